using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Engine.Cli;

/// <summary>
/// The option types every command builds its options from. Each one carries its rule (a range, finiteness, a path that
/// can be written or read), checked while the command line is parsed, so a bad value is refused in one line with exit
/// code 2 before any work starts. A new command adds an option as
/// <c>var steps = ValidatedOption.Integer("--steps", "optimiser steps", 1500, min: 1);</c>
/// and reads it with <c>r.GetValue(steps)</c> as usual. Rules that involve several options (heads dividing the width,
/// sizes against a memory estimate) run first thing in the command's action (<see cref="MemoryEstimate"/>).
/// </summary>
static class ValidatedOption
{
    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Option<int> Integer(string name, string description, int defaultValue, int min, int max = int.MaxValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r => CheckRange(r, name, r.GetValueOrDefault<int>(), min, max));
        return option;
    }

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>] with no default (the command picks one when it is absent).</summary>
    public static Option<int?> OptionalInteger(string name, string description, int min, int max = int.MaxValue)
    {
        var option = new Option<int?>(name) { Description = description };
        option.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is { } v) CheckRange(r, name, v, min, max); });
        return option;
    }

    /// <summary>A finite number greater than 0 (a learning rate).</summary>
    public static Option<double> Positive(string name, string description, double defaultValue)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r => CheckPositive(r, name, r.GetValueOrDefault<double>()));
        return option;
    }

    /// <summary>A finite number greater than 0, or absent (the command picks one).</summary>
    public static Option<double?> OptionalPositive(string name, string description)
    {
        var option = new Option<double?>(name) { Description = description };
        option.Validators.Add(r => { if (r.GetValueOrDefault<double?>() is { } v) CheckPositive(r, name, v); });
        return option;
    }

    /// <summary>A finite number of 0 or more (a temperature).</summary>
    public static Option<double> NonNegative(string name, string description, double defaultValue)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            double v = r.GetValueOrDefault<double>();
            if (!(v >= 0) || !double.IsFinite(v)) r.AddError($"{name} must be a finite number of 0 or more, got {Show(v)}");
        });
        return option;
    }

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>]; <paramref name="minExclusive"/> leaves out <paramref name="min"/> itself.</summary>
    public static Option<double> Number(string name, string description, double defaultValue, double min, double max, bool minExclusive = false)
    {
        var option = new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            double v = r.GetValueOrDefault<double>();
            bool aboveMin = minExclusive ? v > min : v >= min;
            if (!double.IsFinite(v) || !aboveMin || v > max)
                r.AddError($"{name} must be a number in {(minExclusive ? "(" : "[")}{Show(min)}, {Show(max)}], got {Show(v)}");
        });
        return option;
    }

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>], or absent (the command picks one).</summary>
    public static Option<double?> OptionalNumber(string name, string description, double min, double max)
    {
        var option = new Option<double?>(name) { Description = description };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double?>() is { } v && (!double.IsFinite(v) || v < min || v > max))
                r.AddError($"{name} must be a number in [{Show(min)}, {Show(max)}], got {Show(v)}");
        });
        return option;
    }

    /// <summary>A file the command writes: not a folder, in a folder that exists or can be created and written to.</summary>
    public static Option<string> OutputFile(string name, string description, string defaultValue)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r => { if (OutputPath.FileProblem(r.GetValueOrDefault<string>()) is { } p) r.AddError($"{name}: {p}"); });
        return option;
    }

    /// <summary>Like <see cref="OutputFile"/> with no default: nothing is written when it is absent.</summary>
    public static Option<string?> OptionalOutputFile(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } path && OutputPath.FileProblem(path) is { } p) r.AddError($"{name}: {p}"); });
        return option;
    }

    /// <summary>A folder the command writes into (created when missing): not an existing file, and writable.</summary>
    public static Option<string?> OptionalOutputFolder(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(r => { if (r.GetValueOrDefault<string?>() is { } path && OutputPath.FolderProblem(path) is { } p) r.AddError($"{name}: {p}"); });
        return option;
    }

    static void CheckRange(OptionResult r, string name, long value, long min, long max)
    {
        if (value >= min && value <= max) return;
        string range = max == int.MaxValue ? $"{min} or more" : $"in [{min}, {max}]";
        r.AddError($"{name} must be {range}, got {value}");
    }

    static void CheckPositive(OptionResult r, string name, double value)
    {
        if (!(value > 0) || !double.IsFinite(value)) r.AddError($"{name} must be a finite number greater than 0, got {Show(value)}");
    }

    static string Show(double value) => value.ToString("G", CultureInfo.InvariantCulture);
}

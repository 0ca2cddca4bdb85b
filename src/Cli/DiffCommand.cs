using System.CommandLine;
using System.Globalization;
using Engine.Nn;
using Engine.Nn.Checkpoints;

namespace Engine.Cli;

/// <summary>
/// <c>engine diff A B</c>: which parameters an update touched (<see cref="UpdateSparsity"/>): per tensor the fraction
/// of entries changed by more than a tolerance and the rank of each matrix's update, then the totals. A training
/// checkpoint's model tensors (<c>model.</c>) are compared, not its optimiser state.
/// </summary>
static class DiffCommand
{
    const string ModelPrefix = "model.";

    public static Command Create()
    {
        var first = new Argument<string>("before") { Description = "a .safetensors file (plain, or a training checkpoint of `engine train`)" };
        var second = new Argument<string>("after") { Description = "the same model after an update, in the same form" };
        var tolerance = ValidatedOption.NonNegative("--tol", "an entry counts as changed when |after - before| exceeds this", 1e-5);
        var command = new Command("diff", "report the fraction of parameters an update changed and the rank of each matrix's update");
        command.Arguments.Add(first);
        command.Arguments.Add(second);
        command.Options.Add(tolerance);
        command.SetAction(r => Run(r.GetValue(first)!, r.GetValue(second)!, r.GetValue(tolerance)));
        return command;
    }

    static int Run(string before, string after, double tolerance)
    {
        var report = UpdateSparsity.Compare(ModelTensors(before), ModelTensors(after), tolerance);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"{before} -> {after}: entries changed by more than {tolerance.ToString("G3", inv)}");
        Console.WriteLine("| tensor | shape | changed | update rank |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (var t in report.Tensors)
            Console.WriteLine($"| {t.Name} | {Shapes.Format(t.Shape)} | {(100 * t.FractionChanged).ToString("F2", inv)}% | {(t.UpdateRank is { } r ? $"{r} / {t.FullRank}" : "-")} |");
        var matrices = report.Tensors.Where(t => t.UpdateRank is > 0).ToList();
        Console.WriteLine($"changed: {report.Changed:N0} of {report.Elements:N0} entries ({(100 * report.FractionChanged).ToString("F2", inv)}%)" +
            (matrices.Count == 0 ? "" : $"; changed matrices' updates have {matrices.Average(t => (double)t.UpdateRank!.Value / t.FullRank!.Value * 100).ToString("F1", inv)}% of full rank on average"));
        return 0;
    }

    static Dictionary<string, Tensor> ModelTensors(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint file at '{path}'", path);
        using var file = Safetensors.Open(path);
        bool training = file.Metadata.ContainsKey("step");
        return file.Names.Where(n => !training || n.StartsWith(ModelPrefix, StringComparison.Ordinal))
            .ToDictionary(n => training ? n[ModelPrefix.Length..] : n, file.Read);
    }
}

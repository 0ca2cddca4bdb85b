using System.Globalization;
using System.Text;

namespace Engine.Fuzz;

/// <summary>One fuzz case: its target, seed, mutation, outcome (success or the exception type), time, allocation (and its bound) and failure, if any.</summary>
public sealed record FuzzCase(string Target, int Seed, string Mutation, string Outcome, TimeSpan Elapsed, long AllocatedBytes, long FileBytes, long AllocationBound, string? Failure)
{
    /// <summary>The allocation as a share of its bound (1 = at the bound).</summary>
    public double AllocationShare => (double)AllocatedBytes / AllocationBound;
}

/// <summary>The cases of a run, summarised per target: outcomes by class, failures, the slowest case and the worst allocation ratio.</summary>
public sealed class FuzzReport
{
    readonly List<FuzzCase> _failures = new();
    readonly Dictionary<string, Dictionary<string, int>> _outcomes = new(StringComparer.Ordinal);
    readonly Dictionary<string, FuzzCase> _slowest = new(StringComparer.Ordinal);
    readonly Dictionary<string, FuzzCase> _worstAllocation = new(StringComparer.Ordinal);

    /// <summary>Cases that broke a promise (at most the first 100 are kept).</summary>
    public IReadOnlyList<FuzzCase> Failures => _failures;

    /// <summary>Number of failed cases.</summary>
    public int FailureCount { get; private set; }

    /// <summary>Number of cases.</summary>
    public int CaseCount { get; private set; }

    /// <summary>Outcome counts per target.</summary>
    public IReadOnlyDictionary<string, Dictionary<string, int>> Outcomes => _outcomes;

    /// <summary>Records one case.</summary>
    public void Add(FuzzCase c)
    {
        CaseCount++;
        if (!_outcomes.TryGetValue(c.Target, out var counts)) _outcomes[c.Target] = counts = new(StringComparer.Ordinal);
        counts[c.Outcome] = counts.GetValueOrDefault(c.Outcome) + 1;
        if (c.Failure is not null && FailureCount++ < 100) _failures.Add(c);
        if (!_slowest.TryGetValue(c.Target, out var s) || c.Elapsed > s.Elapsed) _slowest[c.Target] = c;
        if (!_worstAllocation.TryGetValue(c.Target, out var w) || c.AllocationShare > w.AllocationShare) _worstAllocation[c.Target] = c;
    }

    /// <summary>The summary table (Markdown) and the first failures with their seeds.</summary>
    public string Format()
    {
        var ci = CultureInfo.InvariantCulture;
        var classes = _outcomes.Values.SelectMany(c => c.Keys).Distinct().OrderBy(k => k == "success" ? "" : k, StringComparer.Ordinal).ToList();
        var text = new StringBuilder();
        text.AppendLine($"| target | cases | {string.Join(" | ", classes)} | failures | slowest | most allocated (share of the bound) |");
        text.AppendLine($"|---|---:|{string.Concat(classes.Select(_ => "---:|"))}---:|---:|---:|");
        foreach (var (target, counts) in _outcomes)
        {
            int failures = _failures.Count(f => f.Target == target);
            text.Append(ci, $"| {target} | {counts.Values.Sum()} | {string.Join(" | ", classes.Select(k => counts.GetValueOrDefault(k)))} | {failures} | ");
            var w = _worstAllocation[target];
            text.AppendLine(ci, $"{_slowest[target].Elapsed.TotalMilliseconds:F0} ms | {w.AllocatedBytes / 1024} KiB for {w.FileBytes / 1024.0:F1} KiB of files ({w.AllocationShare:P0}) |");
        }
        foreach (var (target, c) in _slowest) text.AppendLine(ci, $"slowest {target}: seed {c.Seed}, {c.Mutation} -> {c.Outcome}, {c.Elapsed.TotalMilliseconds:F0} ms");
        foreach (var (target, c) in _worstAllocation) text.AppendLine(ci, $"most allocated {target}: seed {c.Seed}, {c.Mutation} -> {c.Outcome}, {c.AllocatedBytes} bytes");
        foreach (var f in _failures.Take(20))
            text.AppendLine($"FAIL {f.Target} seed {f.Seed} ({f.Mutation}): {f.Failure}");
        return text.ToString();
    }
}

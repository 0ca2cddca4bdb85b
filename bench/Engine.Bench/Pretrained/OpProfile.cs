using System.Diagnostics;
using Engine.Recording;

namespace Engine.Bench.Pretrained;

/// <summary>
/// Where a forward pass spends its time, op by op: an <see cref="OpObserver"/> charges the wall time since the previous
/// op's output to the op that just finished (so the Python-like glue between ops is charged to the op after it).
/// Grouped by op name and output shape, largest total first.
/// </summary>
sealed class OpProfile
{
    readonly Dictionary<string, (double Ms, int Count)> _totals = [];
    readonly Stopwatch _clock = new();
    TimeSpan _last;

    /// <summary>Runs <paramref name="body"/> once under the observer and returns the per-op table.</summary>
    public static string Measure(Action body)
    {
        var profile = new OpProfile();
        var previous = OpObserver.Current;
        OpObserver.Current = profile.Observe;
        profile._clock.Start();
        try { body(); }
        finally { OpObserver.Current = previous; }
        double total = profile._clock.Elapsed.TotalMilliseconds;
        var lines = profile._totals.OrderByDescending(kv => kv.Value.Ms)
            .Select(kv => $"{kv.Value.Ms,9:F2} ms {kv.Value.Count,5}x  {kv.Key}");
        return $"{total:F1} ms in all\n" + string.Join('\n', lines.Take(25));
    }

    void Observe(ObservedOp op)
    {
        var now = _clock.Elapsed;
        string key = $"{op.Name} -> [{string.Join(", ", op.Output.Shape)}]";
        var (ms, count) = _totals.GetValueOrDefault(key);
        _totals[key] = (ms + (now - _last).TotalMilliseconds, count + 1);
        _last = now;
    }
}

namespace Engine.Peft.LowRank;

/// <summary>
/// aLoRA's invocation offsets (Greenewald et al. 2025, "Activated LoRA", arXiv:2504.12397; PEFT's
/// <c>calculate_alora_offsets</c> in lora/variants.py): for each row of token ids, the number of positions from the
/// start of the LAST occurrence of the adapter's invocation sequence to the end of the row, 0 when it does not occur.
/// They are held per thread and adapter for the forward passes of a scope, where <see cref="AloraVariant"/> reads them:
/// <see cref="PeftModel.Forward"/> opens one from its input; around <c>Sampling.Generate</c> open one from the prompt
/// (<see cref="PeftModel.TokenScope"/>), or give offsets of your own with <see cref="Begin"/> (PEFT's <c>alora_offsets</c> argument).
/// <code>using (peft.TokenScope(prompt)) tokens = Sampling.Generate(peft.Model, prompt, 20, options);</code>
/// </summary>
public static class AloraOffsets
{
    [ThreadStatic] static Dictionary<string, int[]>? _current;

    /// <summary>The offsets in force for adapter <paramref name="adapter"/> on this thread, or null outside a scope.</summary>
    public static int[]? Current(string adapter) => _current is { } c && c.TryGetValue(adapter, out var o) ? o : null;

    /// <summary>
    /// Makes <paramref name="offsets"/> (one per row, 0 for a row without the invocation) those of adapter
    /// <paramref name="adapter"/> until the scope is disposed. Returns null and changes nothing when offsets are in force
    /// already: an outer scope (a generation's, or offsets given explicitly) governs the forward passes inside it, as
    /// PEFT uses given <c>alora_offsets</c> instead of computing them.
    /// </summary>
    /// <exception cref="ArgumentException">An offset is negative.</exception>
    public static IDisposable? Begin(string adapter, int[] offsets)
    {
        if (offsets.Any(o => o < 0)) throw new ArgumentException($"AloraOffsets: adapter '{adapter}': offsets count positions from the end and cannot be negative, got [{string.Join(", ", offsets)}]");
        _current ??= new(StringComparer.Ordinal);
        if (_current.ContainsKey(adapter)) return null;
        _current[adapter] = offsets.ToArray();
        return new Scope(adapter);
    }

    /// <summary>Opens the offsets of <paramref name="invocation"/> in <paramref name="ids"/> for <paramref name="adapter"/> (<see cref="Find(Tensor, IReadOnlyList{int})"/>, <see cref="Begin"/>).</summary>
    public static IDisposable? Read(string adapter, Tensor ids, IReadOnlyList<int> invocation) =>
        Current(adapter) is not null ? null : Begin(adapter, Find(ids, invocation));

    /// <summary>The offset of each row of token ids [B, T].</summary>
    /// <exception cref="ArgumentException"><paramref name="ids"/> are not integer token ids [batch, time].</exception>
    public static int[] Find(Tensor ids, IReadOnlyList<int> invocation)
    {
        if (ids.Rank != 2 || ids.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"aLoRA: the invocation is found in integer token ids [batch, time], got {ids.DType.Name()} {Shapes.Format(ids.Shape)}");
        int b = ids.Size(0), t = ids.Size(1);
        var all = ids.To(Device.Cpu).To(DType.Int64).ToArray<long>();
        return Enumerable.Range(0, b).Select(i => Find(all.AsSpan(i * t, t), invocation)).ToArray();
    }

    /// <summary>T − (start of the last occurrence of <paramref name="invocation"/> in <paramref name="row"/>), or 0 when it does not occur.</summary>
    public static int Find(ReadOnlySpan<long> row, IReadOnlyList<int> invocation)
    {
        int n = invocation.Count;
        for (int start = row.Length - n; start >= 0; start--)
        {
            int k = 0;
            while (k < n && row[start + k] == invocation[k]) k++;
            if (k == n) return row.Length - start;
        }
        return 0;
    }

    sealed class Scope(string adapter) : IDisposable
    {
        bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _current?.Remove(adapter);
        }
    }
}

namespace Engine.Nn;

/// <summary>
/// The residual stream entering the sublayer that is running now (x1 in y = x1 + sublayer(x1), or LN(x1 + sublayer(x1))
/// for post-norm blocks): what a module inside the sublayer (its output projection, or an adapter wrapping it) sees of
/// the block's input, as a PyTorch module reads the block's <c>residual</c> variable. <see cref="TransformerBlock"/>
/// (GPT-2, pre-norm: the stream before <c>ln1</c> / <c>ln2</c>) and <see cref="BertResidualOutput"/> (BERT, post-norm:
/// the residual added before the LayerNorm) publish it around each sublayer; other models publish nothing. Held per
/// thread; the innermost sublayer wins. Used by VL-PET's gates (Hu et al. 2023, arXiv 2308.09804), which condition on x1.
/// <code>var x1 = SublayerInput.Current ?? throw ...; // inside an attention or feed-forward output projection</code>
/// </summary>
public static class SublayerInput
{
    [ThreadStatic] static List<Tensor>? _stack;

    /// <summary>The residual stream of the innermost running sublayer, or null outside any publishing sublayer.</summary>
    public static Tensor? Current => _stack is { Count: > 0 } s ? s[^1] : null;

    /// <summary>Runs <paramref name="sublayer"/> with <paramref name="residual"/> published as <see cref="Current"/>.</summary>
    public static Tensor Run(Tensor residual, Func<Tensor> sublayer)
    {
        var s = _stack ??= [];
        s.Add(residual);
        int depth = s.Count;
        try { return sublayer(); }
        finally { if (s.Count >= depth) s.RemoveRange(depth - 1, s.Count - depth + 1); }
    }
}

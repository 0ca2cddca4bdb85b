namespace Engine.Peft.RandomBasis;

/// <summary>
/// The layers a shared-basis method (VeRA, RandLoRA) adapts and the largest widths among them, from which its shared
/// frozen matrices are sized once per adapter (PEFT's <c>_find_dim</c>: the element-wise largest (out, in)).
/// </summary>
/// <param name="Linears">The targeted linear layers (the wrapped base layer where a target is already adapted).</param>
/// <param name="MaxIn">The largest input width.</param>
/// <param name="MaxOut">The largest output width.</param>
public sealed record SharedBasisTargets(IReadOnlyList<Linear> Linears, int MaxIn, int MaxOut)
{
    /// <summary>The targets of <paramref name="context"/>; <paramref name="method"/> names the method in the error when there are none.</summary>
    public static SharedBasisTargets Of(AdapterModelPartContext context, string method)
    {
        var linears = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module).ToList();
        if (linears.Count == 0) throw new ArgumentException($"{method}: no target layers");
        return new(linears, linears.Max(l => l.InFeatures), linears.Max(l => l.OutFeatures));
    }

    /// <summary>The smaller of the two largest widths (PEFT's <c>min_dim</c>).</summary>
    public int MinDim => Math.Min(MaxIn, MaxOut);

    /// <summary>The larger of the two largest widths (PEFT's <c>max_dim</c>).</summary>
    public int MaxDim => Math.Max(MaxIn, MaxOut);

    /// <summary>The dtype of the first target's weight, which the shared matrices take.</summary>
    public DType DType => Linears[0].Weight.DType;
}

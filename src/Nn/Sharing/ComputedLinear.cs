namespace Engine.Nn;

/// <summary>
/// y = x Wᵀ + b where W is not a stored parameter but <see cref="WeightSource.Compute"/> of a child module
/// (registered as <c>w</c>), materialised once per forward pass — not per token — and then used as a dense Linear
/// weight. The bias stays a dense per-layer parameter, as in FakeRoast's <c>FakeRoastLinear</c> (apd10/FakeRoast
/// <c>FakeRoast.py</c>) and in MASA (spec adapters-other.md §14, §16; structure-and-optimizers.md 1.5, 1.6).
/// <see cref="ToLinear"/> gives the dense equivalent (FakeRoast's <c>RoastToFullModel</c>, MASA's merge).
/// </summary>
public sealed class ComputedLinear : Module
{
    /// <summary>A layer whose weight is <paramref name="source"/>'s output, with <paramref name="bias"/> [out] (taken as is) or none.</summary>
    /// <exception cref="ArgumentException">The bias does not have one entry per output feature.</exception>
    public ComputedLinear(WeightSource source, Tensor? bias)
    {
        if (bias is not null && (bias.Rank != 1 || bias.Size(0) != source.OutFeatures))
            throw new ArgumentException($"ComputedLinear: bias {Shapes.Format(bias.Shape)} must be [{source.OutFeatures}]");
        InFeatures = source.InFeatures;
        OutFeatures = source.OutFeatures;
        RegisterModule("w", source);
        if (bias is not null) RegisterParameter("bias", bias);
    }

    /// <summary>Input features (the weight's columns).</summary>
    public int InFeatures { get; }

    /// <summary>Output features (the weight's rows).</summary>
    public int OutFeatures { get; }

    /// <summary>The module that computes the weight.</summary>
    public WeightSource Source => Unwrapped<WeightSource>("w");

    /// <summary>[out], or null without bias.</summary>
    public Tensor? Bias => FindParameter("bias");

    /// <summary>The weight [out, in] as the forward pass uses it (recorded for autograd).</summary>
    public Tensor Weight => Source.Compute();

    /// <summary>[..., in] to [..., out]: the weight is computed once, then one GEMM over the flattened leading dimensions.</summary>
    public override Tensor Forward(Tensor input)
    {
        if (input.Size(-1) != InFeatures)
            throw new ArgumentException($"ComputedLinear: input {Shapes.Format(input.Shape)} has {input.Size(-1)} features, the layer expects {InFeatures}");
        var w = Weight;
        if (w.Rank != 2 || w.Size(0) != OutFeatures || w.Size(1) != InFeatures)
            throw new InvalidOperationException($"ComputedLinear: the source {Source.GetType().Name} computed {Shapes.Format(w.Shape)}, expected [{OutFeatures}, {InFeatures}]");
        var rows = input.Reshape(-1, InFeatures);
        var y = Bias is null ? rows.MatMul(w.T) : Tensor.Addmm(Bias, rows, w.T);
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        return y.Reshape(shape);
    }

    /// <summary>A dense <see cref="Linear"/> holding copies of the current weight and bias (same dtype and device): the export.</summary>
    public Linear ToLinear()
    {
        Linear dense;
        using (Init.Skip()) dense = new Linear(InFeatures, OutFeatures, Bias is not null);
        using (Autograd.Autograd.NoGrad())
        {
            var w = Weight.Detach();
            dense.To(w.DType).To(w.Device);
            dense.Weight.CopyFrom(w);
            if (Bias is not null) dense.Bias!.CopyFrom(Bias.Detach());
        }
        return dense;
    }

    /// <summary>
    /// Replaces every <see cref="ComputedLinear"/> in <paramref name="model"/> by its dense <see cref="ToLinear"/> in
    /// place (FakeRoast's <c>RoastToFullModel</c>): the function is unchanged and the shared tensors are gone.
    /// Returns the number of layers replaced.
    /// </summary>
    public static int Densify(Module model)
    {
        var targets = model.NamedModules().SelectMany(m => m.Module.Children()
            .Where(c => c.Module is ComputedLinear).Select(c => (Parent: m.Module, c.Name, Layer: (ComputedLinear)c.Module))).ToList();
        foreach (var (parent, name, layer) in targets) parent.ReplaceModule(name, layer.ToLinear());
        return targets.Count;
    }
}

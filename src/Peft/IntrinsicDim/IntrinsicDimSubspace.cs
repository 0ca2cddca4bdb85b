using Engine.Recording;

namespace Engine.Peft.IntrinsicDim;

/// <summary>
/// The model part of intrinsic-dimension training (arXiv 1804.08838; spec structure-and-optimizers.md §4.1): the one
/// trainable vector θ^(d) of the whole model (<c>base_model.intrinsic_theta_d</c>, zeros at creation, so the model
/// starts at its base) and the frozen <see cref="SubspaceProjection"/> P drawn from <c>projection_seed</c>. Every
/// targeted weight's ΔW is its consecutive slice of P θ^(d) (the reference's FastWalshHadamardProjector owns d and
/// hands out slices the same way). P θ^(d) is computed once per forward and shared by the layers: it is kept while
/// θ^(d) keeps its values and the graph through it is alive (a backward without retainGraph releases it).
/// </summary>
public sealed class IntrinsicDimSubspace : AdapterModelPart, ISharedTensorOwner
{
    /// <summary>The file key of θ^(d).</summary>
    public const string Key = "base_model.intrinsic_theta_d";

    readonly Dictionary<string, (long Offset, int Out, int In)> _slices = new(StringComparer.Ordinal);
    readonly long[] _sizes;
    readonly DType _dtype;
    SubspaceProjection? _projection;
    Tensor? _generated, _generatedFrom;
    double[]? _generatedValues;
    bool _generatedWithGraph;

    /// <summary>Creates θ^(d) = 0 and the layout of the targeted weights; P is drawn on first use.</summary>
    public IntrinsicDimSubspace(AdapterModelPartContext context) : base(context)
    {
        var c = (IntrinsicDimConfig)context.Config;
        var linears = context.Targets.Select(t => (t.Path, Linear: t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module)).ToList();
        _dtype = linears.FirstOrDefault().Linear?.Weight.DType ?? DType.Float32;
        long offset = 0;
        foreach (var (path, linear) in linears)
        {
            _slices[path.Engine] = (offset, linear.OutFeatures, linear.InFeatures);
            offset += (long)linear.OutFeatures * linear.InFeatures;
        }
        _sizes = linears.Select(t => (long)t.Linear.OutFeatures * t.Linear.InFeatures).ToArray();
        SubspaceProjection.Check(c.Projection, offset, c.IntrinsicDim);
        RegisterParameter("intrinsic_theta_d", Tensor.Zeros([c.IntrinsicDim], _dtype));
    }

    /// <summary>θ^(d) [d] under its file key, without creating it.</summary>
    public static IEnumerable<PlannedTensor> Plan(IntrinsicDimConfig c) => [new(Key, [c.IntrinsicDim])];

    /// <summary>θ^(d) [d].</summary>
    public Tensor Theta => NamedParameters().First(p => p.Name == "intrinsic_theta_d").Parameter;

    /// <summary>D: the entries of all targeted weights.</summary>
    public long Coordinates => _sizes.Sum();

    /// <summary>P, drawn from the configuration's seed on first use.</summary>
    public SubspaceProjection Projection
    {
        get
        {
            var c = (IntrinsicDimConfig)Config;
            return _projection ??= SubspaceProjection.Create(c.Projection, _sizes, c.IntrinsicDim, c.ProjectionSeed, _dtype);
        }
    }

    /// <summary>P θ^(d) [D], computed again only when θ^(d) changed, grad mode changed, or its graph was released.</summary>
    public Tensor Generated()
    {
        var theta = Theta;
        bool graph = GradMode.IsEnabled && theta.RequiresGrad;
        var values = theta.Detach().To(DType.Float64).ToArray<double>();
        if (_generated is not null && ReferenceEquals(_generatedFrom, theta) && _generatedWithGraph == graph && _generated.Device == theta.Device
            && values.AsSpan().SequenceEqual(_generatedValues) && !(graph && Autograd.Autograd.IsGraphReleased(_generated)))
            return _generated;
        _generated = Projection.Apply(theta);
        (_generatedFrom, _generatedValues, _generatedWithGraph) = (theta, values, graph);
        return _generated;
    }

    /// <summary>ΔW [out, in] of the targeted weight at <paramref name="path"/>: its slice of P θ^(d).</summary>
    public Tensor DeltaWeight(ModulePath path)
    {
        var (offset, rows, cols) = _slices[path.Engine];
        return Generated().Narrow(0, checked((int)offset), rows * cols).Reshape(rows, cols);
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => [new(Key, Theta, true, true)];
}

namespace Engine.Peft.IntrinsicDim;

/// <summary>
/// A <see cref="Linear"/> under intrinsic-dimension training: ΔW is the layer's slice of the model's P θ^(d)
/// (<see cref="IntrinsicDimSubspace"/>), y = x (W0 + ΔW)^T + b0. The layer holds no tensors of its own; merging adds
/// ΔW to W0.
/// </summary>
public sealed class IntrinsicDimLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, (IntrinsicDimSubspace Part, ModulePath Path)> _parts = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public IntrinsicDimLayer(Linear baseLayer) : base(baseLayer) { }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) => [];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context) => _parts[context.Name] = (context.ModelPartAs<IntrinsicDimSubspace>(), context.Path);

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _parts.Remove(name);

    /// <summary>The layer's slice of P θ^(d) [out, in].</summary>
    public override Tensor DeltaWeight(string name)
    {
        var (part, path) = _parts[name];
        return part.DeltaWeight(path);
    }
}

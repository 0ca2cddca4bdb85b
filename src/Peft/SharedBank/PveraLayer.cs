using Engine.Peft.RandomBasis;

namespace Engine.Peft.SharedBank;

/// <summary>
/// A <see cref="Linear"/> with PVeRA adapters (PEFT's <c>pvera/layer.py</c>): [μ, log σ²] = the two halves of
/// d * (dropout(x) A_s^T) with A_s = A[:, :in] [2r, in]; z = μ + ε exp(log σ² / 2) (ε ~ N(0, 1)) in training or with
/// <c>sample_at_inference</c>, else z = μ; y = x W0^T + b0 + b * (z B_s^T), B_s = B[:out, :]. Trainable b [out]
/// (<c>pvera_lambda_b</c>, init 0) and d [2r] (<c>pvera_lambda_d</c>, init d_initial). Merging uses the mean:
/// ΔW = diag(b) B_s diag(d[:r]) A_s[:r].
/// </summary>
public sealed class PveraLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, (VeraProjections Projections, Generator Noise)> _adapters = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public PveraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>b [out].</summary>
    public Tensor LambdaB(string name) => Parameter("pvera_lambda_b", name);

    /// <summary>d [2r].</summary>
    public Tensor LambdaD(string name) => Parameter("pvera_lambda_d", name);

    /// <summary>The shared A sliced to this layer: [2r, in].</summary>
    public Tensor A(string name) => _adapters[name].Projections.A.Narrow(1, 0, InFeatures);

    /// <summary>The shared B sliced to this layer: [out, r].</summary>
    public Tensor B(string name) => _adapters[name].Projections.B.Narrow(0, 0, OutFeatures);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        [Planned("pvera_lambda_b", null, OutFeatures), Planned("pvera_lambda_d", null, 2 * context.ConfigAs<PveraConfig>().R)];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PveraConfig>();
        var dtype = BaseLayer.Weight.DType;
        _adapters[context.Name] = (context.ModelPartAs<VeraProjections>(), c.GeneratorSeed is { } seed ? new Generator(seed) : context.Generator);
        AddDropout("pvera_dropout", context.Name, c.PveraDropout, context.Generator);
        AddParameter("pvera_lambda_b", context.Name, c.InitWeights ? Tensor.Zeros([OutFeatures], dtype) : Tensor.Full([OutFeatures], 1, dtype));
        AddParameter("pvera_lambda_d", context.Name, c.InitWeights ? Tensor.Full([2 * c.R], c.DInitial, dtype) : Tensor.Randn([2 * c.R], 0, 1, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _adapters.Remove(name);

    /// <summary>diag(b) B_s diag(d[:r]) A_s[:r] [out, in]: the mean's update.</summary>
    public override Tensor DeltaWeight(string name)
    {
        int r = LambdaD(name).Size(0) / 2;
        return (LambdaB(name).Unsqueeze(1) * B(name)) % (LambdaD(name).Narrow(0, 0, r).Unsqueeze(1) * A(name).Narrow(0, 0, r));
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var h = LinearMap(x, A(name)) * LambdaD(name);
        int r = h.Size(-1) / 2;
        var z = h.Narrow(-1, 0, r);
        if (Training || ((PveraConfig)ConfigOf(name)).SampleAtInference)
        {
            var std = (h.Narrow(-1, r, r) * 0.5).Exp();
            z = z + Tensor.Randn(std.Shape, 0, 1, std.DType, _adapters[name].Noise, std.Device) * std;
        }
        return LinearMap(z, B(name)) * LambdaB(name);
    }
}

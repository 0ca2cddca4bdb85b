// The made-up method of docs/adapters.md ("Adding a method"), applied to a GPT by AdaptersDocTests.
// doc-begin: adapters-scaled-bias
namespace Engine.Peft.Scaling;

/// <summary>... paper, section ...</summary>
[PeftMethod("SCALED_BIAS", Layer = typeof(ScaledBiasLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record ScaledBiasConfig : PeftConfig
{
    public double Scale { get; init; } = 1;                       // JSON "scale"
    public static ScaledBiasConfig Preset(AdapterPreset p) => new() { TargetModules = p.Linears, Seed = p.Seed };
}

public sealed class ScaledBiasLayer(Linear baseLayer) : AdditiveAdapterLayer(baseLayer)
{
    protected override void CreateAdapter(AdapterContext context) =>
        AddParameter("scaled_bias", context.Name, Tensor.Zeros([OutFeatures], BaseLayer.Weight.DType));   // file key ...scaled_bias

    // What CreateAdapter registers, without allocating it: loading checks a file's header against this first.
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) => [Planned("scaled_bias", null, OutFeatures)];

    // No weight change: the bias moves, so merging adds s * beta to b0.
    public override Tensor DeltaWeight(string name) => BaseLayer.Weight.ZerosLike();
    protected override Tensor Contribution(string name, Tensor x) => Parameter("scaled_bias", name) * ((ScaledBiasConfig)ConfigOf(name)).Scale;
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor w, Tensor? b) => (w, b! + Parameter("scaled_bias", name).Detach() * ((ScaledBiasConfig)ConfigOf(name)).Scale);
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor w, Tensor? b) => (w, b! - Parameter("scaled_bias", name).Detach() * ((ScaledBiasConfig)ConfigOf(name)).Scale);
}
// doc-end: adapters-scaled-bias

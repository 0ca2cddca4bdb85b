using Engine.Recording;

namespace Engine.Peft.LowRank;

/// <summary>
/// VeLoRA (Miles et al. 2024, arXiv:2405.17991; PEFT's <c>VeloraLinearVariant</c>, lora/variants.py): plain LoRA's
/// forward and merge, but while training with gradients on, <c>lora_A</c>'s input is kept for the backward only as
/// rank-1 sub-token coordinates (<see cref="VeloraProjection"/>), so ∂A is approximate; ∂B and the input gradient are
/// exact. The unit vector v [ceil(in / num_groups)] is a frozen buffer saved as <c>lora_velora_embed</c> (PEFT saves
/// it): "random" draws it once (normalised N(0, 1)), "batch_average" sets it before every training forward to the
/// normalised mean sub-token of the (dropped-out) input, "batch_average_once" before the first training forward only
/// (PEFT keeps that flag outside the file, so a loaded adapter takes it again from its first batch, as here).
/// In evaluation mode or without gradients the layer is plain LoRA, as in PEFT.
/// </summary>
public sealed class VeloraVariant(VeloraConfig config) : ILoraVariant
{
    /// <summary>The container of the projection vectors (PEFT's key; a buffer, never trained).</summary>
    public const string EmbedKey = "lora_velora_embed";

    bool _initialized;

    /// <inheritdoc/>
    /// <remarks>The one tensor listed is the frozen buffer v, created by <see cref="Init"/>.</remarks>
    public IEnumerable<(string Container, int[] Shape)> ExtraParameters(LoraLayer layer, int r) =>
        [(EmbedKey, [VeloraProjection.GroupDim(layer.InFeatures, config.NumGroups)])];

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator)
    {
        var weight = layer.BaseLayer.Weight;
        int d = VeloraProjection.GroupDim(layer.InFeatures, config.NumGroups);
        _initialized = config.InitType == "random";
        var v = _initialized ? VeloraProjection.Normalize(Tensor.Randn([d], 0, 1, weight.DType, generator)) : Tensor.Zeros([d], DType.Float32);
        layer.AddVariantBuffer(EmbedKey, name, v.To(weight.DType).To(weight.Device));
    }

    /// <summary>The projection vector v of adapter <paramref name="name"/>.</summary>
    public static Tensor Embed(LoraLayer layer, string name) => layer.VariantBuffer(EmbedKey, name);

    /// <inheritdoc/>
    public Tensor? Contribution(LoraLayer layer, string name, Tensor x)
    {
        var a = layer.FactorA(name);
        if (!(layer.Training && GradMode.IsEnabled)) return layer.FactorB(name).Forward(a.Forward(x)) * layer.Settings(name).Scaling;
        var v = Embed(layer, name);
        if (config.InitType == "batch_average" || (config.InitType == "batch_average_once" && !_initialized))
        {
            using var _ = Autograd.Autograd.NoGrad();
            // The mean sub-token of the batch, padding included (PEFT's _maybe_update_embed).
            v.CopyFrom(VeloraProjection.Normalize(VeloraProjection.SubTokens(x.Detach(), config.NumGroups).Reshape(-1, v.Size(0)).Mean(0)).To(v.DType));
            _initialized = true;
        }
        var h = new VeloraProjection(v, config.NumGroups, config.Scale).Apply(x, a.Weight);
        return layer.FactorB(name).Forward(h) * layer.Settings(name).Scaling;
    }
}

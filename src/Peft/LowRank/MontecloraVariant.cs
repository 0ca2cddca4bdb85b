namespace Engine.Peft.LowRank;

/// <summary>
/// MonteCLoRA (Sengupta et al. 2024, arXiv:2411.04358; PEFT's <c>MontecloraLinearVariant</c>, lora/variants.py):
/// LoRA whose A is, in training, the mixture Aᵀ_mc = Σ_n w_n (Aᵀ + ε_n) of N Monte Carlo perturbations drawn by the
/// adapter's <see cref="MontecloraSampler"/> (container <c>lora_monteclora_sampler</c>), so y = result + s B(A_mc x).
/// In evaluation mode, when merged, and in <see cref="ILoraVariant.DeltaWeight"/> the adapter is plain LoRA with the
/// mean A (PEFT's inference and merge). The regulariser (KL terms and the optional entropy) is added to the training
/// loss by LoRA's model part through <see cref="ModelLoss"/>. Draws come from the adapter's generator, or from
/// <see cref="NoiseSource"/> when set (to replay another framework's draws); torch's random streams are not reproduced.
/// </summary>
public sealed class MontecloraVariant(MontecloraConfig config) : ILoraVariant
{
    /// <summary>The container of the samplers (PEFT's key).</summary>
    public const string SamplerKey = "lora_monteclora_sampler";

    Generator? _generator;

    /// <summary>The adapter's MonteCLoRA options.</summary>
    public MontecloraConfig Config => config;

    /// <summary>When set, each training forward takes its draws from here instead of the adapter's generator.</summary>
    public Func<MontecloraNoise>? NoiseSource { get; set; }

    /// <inheritdoc/>
    /// <remarks>The sampler's tensors are members of a sub-module: their keys are <c>lora_monteclora_sampler.&lt;member&gt;</c>.</remarks>
    public IEnumerable<(string Container, int[] Shape)> ExtraParameters(LoraLayer layer, int r) =>
    [
        (SamplerKey + ".std_prior", [r]), (SamplerKey + ".expert_weights_prior", [config.NumSamples]),
        (SamplerKey + ".gaussian_var_prior", [r, r]), (SamplerKey + ".expert_weights", [config.NumSamples]),
    ];

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator)
    {
        _generator = generator;
        layer.AddVariantModule(SamplerKey, name, new MontecloraSampler(layer.InFeatures, layer.Settings(name).R, config, generator));
    }

    /// <summary>The sampler of adapter <paramref name="name"/> on <paramref name="layer"/>.</summary>
    public static MontecloraSampler Sampler(LoraLayer layer, string name) => layer.VariantModule<MontecloraSampler>(SamplerKey, name);

    /// <inheritdoc/>
    public Tensor Forward(LoraLayer layer, string name, Tensor input, Tensor result)
    {
        var x = layer.VariantDropout(name, input);
        if (!layer.Training) return result + layer.VariantContribution(name, x);
        var sampler = Sampler(layer, name);
        var (perturbations, weights) = sampler.Sample(NoiseSource?.Invoke() ?? sampler.Draw(_generator));
        var a = layer.LoraA(name);
        // PEFT keeps A as it is when the weights came out NaN (it warns); the sampler has stored them all the same.
        var mixed = weights.To(Device.Cpu).ToDoubleArray().Any(double.IsNaN)
            ? a
            : (weights.Reshape(-1, 1, 1) * (a.T.Unsqueeze(0) + perturbations)).Sum(0).T;
        var shape = x.Shape;
        shape[^1] = mixed.Size(0);
        var afterA = x.Reshape(-1, layer.InFeatures).MatMul(mixed.T).Reshape(shape);
        return result + layer.FactorB(name).Forward(afterA) * layer.Settings(name).Scaling;
    }

    /// <summary>
    /// PEFT's <c>_get_monteclora_loss</c> for one adapter: the mean over its MonteCLoRA layers of
    /// <see cref="MontecloraSampler.VariationalLoss"/> (a layer in evaluation mode counts with 0), or null when no
    /// layer is training. With several MonteCLoRA adapters active at once PEFT divides their joint sum by the joint
    /// count; here each adapter is averaged over its own layers and the adapters' terms are summed.
    /// </summary>
    public static Tensor? ModelLoss(PeftModel model, string adapter)
    {
        Tensor? sum = null;
        int count = 0;
        foreach (var (_, adapterLayer) in model.AdapterLayers())
        {
            if (adapterLayer is not LoraLayer layer || !layer.AdapterNames.Contains(adapter) || layer.Settings(adapter).Variant is not MontecloraVariant) continue;
            count++;
            if (Sampler(layer, adapter).VariationalLoss() is { } term) sum = sum is null ? term : sum + term;
        }
        return sum is null ? null : sum / count;
    }
}

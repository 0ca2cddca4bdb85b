namespace Engine.Peft.LowRank;

/// <summary>
/// A variant of LoRA that keeps A and B but changes how they act (PEFT's <c>LoraVariant</c>, lora/variants.py):
/// DoRA's magnitude and direction, KaSA's singular-value diagonal, MiCA's frozen B, BD-LoRA's block-diagonal factor,
/// aLoRA's update from the invocation on.
/// One instance per adapter on a layer, so a variant may keep state (DoRA caches the norm of a merge). Chosen from the
/// config by <see cref="LoraVariants.For"/>. Every member but <see cref="Init"/> has plain LoRA's behaviour by default.
/// </summary>
public interface ILoraVariant
{
    /// <summary>The shapes of <c>lora_A.weight</c> and <c>lora_B.weight</c> (plain: [r, in] and [out, r]).</summary>
    (int[] A, int[] B) FactorShapes(LoraLayer layer, int r) => ([r, layer.InFeatures], [layer.OutFeatures, r]);

    /// <summary>The variant's own trainable tensors (container, shape), stored directly in their container.</summary>
    IEnumerable<(string Container, int[] Shape)> ExtraParameters(LoraLayer layer, int r) => [];

    /// <summary>Creates the variant's own tensors once A and B exist (and may change the base weight); <paramref name="generator"/> is the adapter's.</summary>
    void Init(LoraLayer layer, string name, Generator generator);

    /// <summary>s ΔW [out, in] when the variant's update is not s B A, else null.</summary>
    Tensor? DeltaWeight(LoraLayer layer, string name) => null;

    /// <summary>The adapter's addition for its dropped-out input x when it is not s B(A x), else null.</summary>
    Tensor? Contribution(LoraLayer layer, string name, Tensor x) => null;

    /// <summary>The output after adapter <paramref name="name"/>, given the accumulated <paramref name="result"/> and the layer input.</summary>
    Tensor Forward(LoraLayer layer, string name, Tensor input, Tensor result) =>
        result + layer.VariantContribution(name, layer.VariantDropout(name, input));

    /// <summary>The base weight with the adapter folded in.</summary>
    Tensor Merge(LoraLayer layer, string name, Tensor weight) => weight + layer.DeltaWeight(name).Detach();

    /// <summary>The inverse of <see cref="Merge"/>.</summary>
    Tensor Unmerge(LoraLayer layer, string name, Tensor weight) => weight - layer.DeltaWeight(name).Detach();

    /// <summary>Called before the adapter's tensors are removed: a variant that changed the base weight puts it back.</summary>
    void OnRemoving(LoraLayer layer, string name) { }

    /// <summary>
    /// Why the adapter cannot be merged into the base weight, or null when it can: its update is no change of the
    /// weights alone (aLoRA's depends on the position, Arrow's on each token's routing).
    /// </summary>
    string? MergeRefusal => null;
}

/// <summary>Picks the variant of a LoRA config: the one place that maps config flags to strategies.</summary>
public static class LoraVariants
{
    /// <summary>
    /// The variants <paramref name="config"/> asks for, by PEFT field name. PEFT's <c>resolve_lora_variant</c> maps
    /// only single variants to classes, so more than one is refused by <see cref="LoraConfig.Validate"/>.
    /// </summary>
    public static IReadOnlyList<string> Requested(LoraConfig config)
    {
        var names = new List<string>();
        if (config.UseDora) names.Add("use_dora");
        if (config.KasaConfig is not null) names.Add("kasa_config");
        if (config.InitLoraWeights == LoraInit.Mica) names.Add("init_lora_weights=\"mica\"");
        if (config.UseBdlora is not null) names.Add("use_bdlora");
        if (config.MontecloraConfig is not null) names.Add("monteclora_config");
        if (config.AloraInvocationTokens is { Count: > 0 }) names.Add("alora_invocation_tokens");
        if (config.VeloraConfig is not null) names.Add("velora_config");
        if (config.UseQalora) names.Add("use_qalora");
        if (config.ArrowConfig is not null) names.Add("arrow_config");
        return names;
    }

    /// <summary>A new variant instance for <paramref name="config"/> on the module at <paramref name="path"/>, or null for plain LoRA.</summary>
    public static ILoraVariant? For(LoraConfig config, ModulePath path)
    {
        if (config.UseDora) return new DoraVariant(config.DoraDetachNorm);
        if (config.KasaConfig is not null) return new KasaVariant();
        if (config.InitLoraWeights == LoraInit.Mica) return new MicaVariant();
        if (config.UseBdlora is { } bd) return new BdLoraVariant(bd, path);
        if (config.MontecloraConfig is { } mc) return new MontecloraVariant(mc);
        if (config.AloraInvocationTokens is { Count: > 0 }) return new AloraVariant();
        if (config.VeloraConfig is { } velora) return new VeloraVariant(velora);
        if (config.UseQalora) return new QaLoraVariant(config.QaloraGroupSize);
        if (config.ArrowConfig is { } arrow) return new ArrowVariant(arrow);
        return null;
    }
}

namespace Engine.Peft.Selective;

/// <summary>
/// LN tuning (Zhao et al. 2023, "Tuning LayerNorm in Attention"; PEFT's <c>LNTuningConfig</c>,
/// src/peft/tuners/ln_tuning): each targeted normalisation layer (LayerNorm or RMSNorm) gets a trainable copy that runs
/// in its place; the base stays frozen. File keys <c>&lt;path&gt;.ln_tuning_layers.weight</c> and <c>.bias</c> (the
/// copy's parameters). Merging writes the copy into the base; only one adapter may merge or run at a time (as PEFT).
/// target_modules defaults to PEFT's GPT-2 mapping (<c>ln_1</c>, <c>ln_2</c>, <c>ln_f</c>).
/// <code>var peft = Peft.Apply(gpt, new LnTuningConfig());</code>
/// </summary>
[PeftMethod("LN_TUNING", Layer = typeof(LnTuningLayer), Wraps = [typeof(LayerNorm), typeof(RMSNorm)], Mergeable = true, StartsAtBase = true,
    CliName = "ln_tuning", ZooLearningRate = 1e-1)]
public sealed record LnTuningConfig : PeftConfig
{
    /// <summary>PEFT's TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING for GPT-2, the default target_modules.</summary>
    public static readonly ModuleSelector Gpt2Norms = ["ln_1", "ln_2", "ln_f"];

    /// <summary>A configuration on GPT-2's norms.</summary>
    public LnTuningConfig() => TargetModules = Gpt2Norms;

    /// <inheritdoc/>
    public override void Validate()
    {
        // PEFT picks the norms by architecture when target_modules is None and raises for unknown ones.
        if (TargetModules is null) throw new ArgumentException("LnTuningConfig: target_modules is required (the norm layers to tune; PEFT's GPT-2 default is ln_1, ln_2, ln_f)");
    }

    /// <summary>The zoo's LN tuning: every norm of the model (GPT-2's names, and BERT's <c>LayerNorm</c>); it has no size.</summary>
    public static LnTuningConfig Preset(AdapterPreset p) => new() { TargetModules = [.. Gpt2Norms, "LayerNorm"], Seed = p.Seed };
}

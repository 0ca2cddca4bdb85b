namespace Engine.Peft.Prompt;

/// <summary>
/// Adaption prompt, LLaMA-Adapter (Zhang et al. 2023, section 3; PEFT's <c>AdaptionPromptConfig</c>,
/// src/peft/tuners/adaption_prompt): the top <see cref="AdapterLayers"/> attention layers each learn a prompt
/// P [1, <see cref="AdapterLen"/>, width] and a gate g [1], zero at first, and add g · softmax(q K_pᵀ / √d_h) V_p to
/// their output, with K_p, V_p the attention's own key and value projections of P (GPT-2: c_attn with its bias) and
/// the softmax separate from the main attention's. File keys <c>&lt;attn path&gt;.adaption_prompt</c> and
/// <c>.adaption_gate</c>. Not mergeable. target_modules is the attention modules' name (PEFT's string "attn" for
/// GPT-2), matched as PEFT does: a module whose path ends in "." + that name.
/// <code>var peft = Peft.Apply(gpt, new AdaptionPromptConfig { AdapterLen = 10, AdapterLayers = 2 });</code>
/// </summary>
[PeftMethod("ADAPTION_PROMPT", Layer = typeof(AdaptionPromptLayer), Wraps = [typeof(MultiHeadAttention)], StartsAtBase = true,
    CliName = "adaption_prompt", ZooLearningRate = 1e-1)]
public sealed record AdaptionPromptConfig : PeftConfig
{
    /// <summary>A configuration on GPT-2's attention modules (<c>attn</c>, written as PEFT's string).</summary>
    public AdaptionPromptConfig() => TargetModules = ModuleSelector.Regex("attn");

    /// <summary>Prompt length per adapted layer (PEFT: required).</summary>
    public int? AdapterLen { get; init; }

    /// <summary>How many attention layers, counted from the top, carry a prompt (PEFT: required).</summary>
    public int? AdapterLayers { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (TargetModules is null) throw new ArgumentException("AdaptionPromptConfig: target_modules is required (the name of the attention modules, \"attn\" for GPT-2)");
        if (AdapterLen is not > 0) throw new ArgumentException($"AdaptionPromptConfig: adapter_len must be a positive integer, got {AdapterLen?.ToString() ?? "none"}");
        if (AdapterLayers is not > 0) throw new ArgumentException($"AdaptionPromptConfig: adapter_layers must be a positive integer, got {AdapterLayers?.ToString() ?? "none"}");
    }

    /// <summary>PEFT's rule (adaption_prompt/model.py): the last adapter_layers modules whose path ends in "." + target_modules.</summary>
    /// <exception cref="ArgumentException">The model has fewer such modules than adapter_layers.</exception>
    public override IEnumerable<ModulePath> SelectTargets(IReadOnlyList<ModulePath> modules)
    {
        var names = TargetModules?.Pattern is { } name ? [name] : TargetModules?.Names ?? [];
        bool Named(string path) => names.Any(n => path.EndsWith("." + n, StringComparison.Ordinal));
        var found = modules.Where(m => m.Names.Any(Named)).ToList();
        if (found.Count < AdapterLayers)
            throw new ArgumentException($"AdaptionPromptConfig: adapter_layers is {AdapterLayers}, but the model has {found.Count} modules named '{string.Join("/", names)}'");
        return found.Skip(found.Count - AdapterLayers!.Value);
    }

    /// <summary>The zoo's adaption prompt: size prompt tokens in the top attention layer (one exists in every model).</summary>
    public static AdaptionPromptConfig Preset(AdapterPreset p) => new() { AdapterLen = p.Size, AdapterLayers = 1, Seed = p.Seed };
}

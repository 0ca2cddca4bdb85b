using System.Text.Json.Serialization;

namespace Engine.Peft.Kind;

/// <summary>
/// KIND (Xia et al., "Knowledge Integration and Diversion in Diffusion Models", arXiv 2408.07337): a weight in SVD form
/// whose components are split into class-agnostic "learngenes" and class-specific "tailors", a class gate table
/// choosing each class's tailors. The paper has no public code; the engine's reading (spec adapters-lowrank.md section 13):
/// W_c = W_res + U_G diag(σ_G) V_Gᵀ + U_T diag(g_c ⊙ σ_T) V_Tᵀ, g_c ∈ {0,1}^{n_T} the row of class c in the gate table.
/// Initialised from the base weight's SVD (<see cref="LowRank.WeightSvd"/>): the top <see cref="NLearngenes"/> triplets
/// are the learngenes, the next <see cref="NClasses"/>·<see cref="NTailors"/> the tailors, class c owning the c-th
/// block of <see cref="NTailors"/>; W_res = W0 − (those components) stays in the base layer, so with every gate on the
/// layer is W0 (the spec's oracle), and class c alone lacks the other classes' tailors. U, σ and V of both groups train
/// (the spec's count (n_G + n_T)(m + n + 1) per matrix). The class of an example is its task id (<see cref="TaskIds"/>,
/// <see cref="PeftModel.TaskScope(IReadOnlyList{int})"/>), else <see cref="DefaultTaskId"/>. Mergeable for one class
/// selection (merge inside <c>TaskScope(c)</c>, or with default_task_id set). Engine-only <c>peft_type</c> "KIND";
/// the field names are the engine's.
/// <code>var peft = Peft.Apply(gpt, new KindConfig { NLearngenes = 4, NTailors = 2, NClasses = 2, TargetModules = ["qkv"] });
/// var logits = peft.ForwardForTasks(ids, [0, 1]);</code>
/// </summary>
[PeftMethod("KIND", Layer = typeof(KindLayer), Mergeable = true, StartsAtBase = false, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record KindConfig : PeftConfig, ITaskRoutedConfig
{
    /// <summary>Number n_G of learngene components (the top singular triplets), shared by every class.</summary>
    public int NLearngenes { get; init; } = 8;

    /// <summary>Number of tailor components per class (the class's block of the tailor group, n_T = n_classes · n_tailors).</summary>
    public int NTailors { get; init; } = 4;

    /// <summary>Number of classes (rows of the gate table); class ids are task ids in [0, n_classes).</summary>
    public int NClasses { get; init; } = 2;

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DefaultTaskId { get; init; }

    /// <inheritdoc/>
    [JsonIgnore]
    public int TaskCount => NClasses;

    /// <summary>Total tailor components n_T.</summary>
    [JsonIgnore]
    public int TailorComponents => NClasses * NTailors;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NLearngenes < 1) throw new ArgumentException($"KindConfig: n_learngenes must be positive, got {NLearngenes}");
        if (NTailors < 1) throw new ArgumentException($"KindConfig: n_tailors must be positive, got {NTailors}");
        if (NClasses < 1) throw new ArgumentException($"KindConfig: n_classes must be positive, got {NClasses}");
        if (DefaultTaskId is { } d && (d < 0 || d >= NClasses)) throw new ArgumentException($"KindConfig: default_task_id must lie in [0, n_classes = {NClasses}), got {d}");
    }

    /// <summary>
    /// The zoo's KIND: size components per matrix (about LoRA's count at rank size), half learngenes and half tailors
    /// of one class, every example class 0 (the names job has no task ids), so the model starts at the base.
    /// </summary>
    public static KindConfig Preset(AdapterPreset p)
    {
        int genes = Math.Max(1, p.Size / 2);
        return new() { NLearngenes = genes, NTailors = Math.Max(1, p.Size - genes), NClasses = 1, DefaultTaskId = 0, TargetModules = p.Linears, Seed = p.Seed };
    }
}

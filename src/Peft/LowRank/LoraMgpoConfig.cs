using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA-GGPO / LoRA-MGPO (Chang et al. 2025, arXiv:2502.14538; reference llm172/LoRA-MGPO <c>lora_mgpo/trainer.py</c>,
/// <c>config.py</c>; spec adapters-lowrank.md section 10): plain LoRA tensors trained with a transient perturbation
/// of the frozen W0. At every training step each adapted Linear adds
/// ε = −ρ · a · D / (‖D‖_F + eps) into W0 before the forward pass and takes it out again after the backward pass, where
/// D = s (M_B A + B M_A) is the LoRA update's direction in weight space built from the optimiser's first moments
/// (Adam's <c>exp_avg</c>, SGD's momentum) and a = min(1 / (ĝ + eps), 10) with ĝ the EMA (β = <see cref="MgpoBeta"/>)
/// of ‖s (∇B A + B ∇A)‖_F (<see cref="LoraMgpoLayer"/>). Evaluation, merging and the file are plain LoRA's; the file
/// adds ĝ (<c>lora_mgpo_grad_ema</c>) and the config ρ and β, for resuming.
/// The paper's first version (GGPO, gradient-guided) gave no formula the spec could find: the engine implements the
/// public MGPO code as its reading of both names, with <see cref="MgpoDirection"/> "gradient" (D from the previous
/// step's LoRA gradients instead of the moments) as the engine's reading of the gradient-guided form.
/// PEFT has no such method: peft_type "LORAMGPO" in PEFT's layout.
/// <code>var peft = Peft.Apply(gpt, new LoraMgpoConfig { R = 8, LoraAlpha = 16, Rho = 0.05, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("LORAMGPO", Layer = typeof(LoraMgpoLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record LoraMgpoConfig : PeftConfig
{
    /// <summary>Rank r of the update B A (the reference's default 8).</summary>
    public int R { get; init; } = 8;

    /// <summary>alpha: the update is scaled by alpha / r (alpha / sqrt r with <see cref="UseRsLora"/>); the reference's default 16.</summary>
    public double LoraAlpha { get; init; } = 16;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D); A and B keep their shapes.</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Rank-stabilised scaling alpha / sqrt(r), as LoRA's <c>use_rslora</c>.</summary>
    [JsonPropertyName("use_rslora")]
    public bool UseRsLora { get; init; }

    /// <summary>PEFT's LoRA default (true): A Kaiming-uniform, B zero. False leaves B random too (PEFT's <c>False</c>: a non-trivial start, for tests).</summary>
    public bool InitLoraWeights { get; init; } = true;

    /// <summary>ρ, the radius of the perturbation (the reference's NLU profile 0.05; NLG 0.01). Zero trains plain LoRA.</summary>
    public double Rho { get; init; } = 0.05;

    /// <summary>β of the EMA ĝ of the layer's gradient norm (the reference's NLU profile 0.9; NLG 0.8).</summary>
    public double MgpoBeta { get; init; } = 0.9;

    /// <summary>The reference's eps (1e-12) in ‖D‖ + eps and ĝ + eps; a direction of norm at most eps is not applied.</summary>
    public double MgpoEps { get; init; } = 1e-12;

    /// <summary>False fixes a = 1 (no division by ĝ), the reference's <c>mgpo_normalize</c>.</summary>
    public bool MgpoNormalize { get; init; } = true;

    /// <summary>
    /// "momentum" (the reference: D from the optimiser's first moments) or "gradient" (the engine's reading of GGPO: D
    /// from the LoRA gradients of the previous step, kept in memory, so no perturbation at the first step of a run).
    /// </summary>
    public string MgpoDirection { get; init; } = "momentum";

    /// <summary>The scale s of an update of rank <paramref name="r"/>: alpha / r, or alpha / sqrt r for rsLoRA.</summary>
    public double Scaling(int r) => UseRsLora ? LoraAlpha / Math.Sqrt(r) : LoraAlpha / r;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"LoraMgpoConfig: r must be positive, got {R}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"LoraMgpoConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        // The reference asserts rho > 0; the engine also allows 0, which trains plain LoRA (the spec's oracle).
        if (!(Rho >= 0 && double.IsFinite(Rho))) throw new ArgumentException($"LoraMgpoConfig: rho must be finite and non-negative, got {Rho}");
        if (!(MgpoBeta >= 0 && MgpoBeta < 1)) throw new ArgumentException($"LoraMgpoConfig: mgpo_beta must satisfy 0 <= beta < 1, got {MgpoBeta}");
        if (!(MgpoEps > 0 && double.IsFinite(MgpoEps))) throw new ArgumentException($"LoraMgpoConfig: mgpo_eps must be positive and finite, got {MgpoEps}");
        if (MgpoDirection is not ("momentum" or "gradient"))
            throw new ArgumentException($"LoraMgpoConfig: mgpo_direction must be \"momentum\" or \"gradient\", got '{MgpoDirection}'");
    }

    /// <summary>
    /// The plain LoRA config of the same adapter (rank, alpha, dropout, targets, seed): the evaluation-time model of an
    /// MGPO adapter is that LoRA adapter with the same A and B (<see cref="LoraMgpoLayer"/>).
    /// </summary>
    public LoraConfig AsLoraConfig() => new()
    {
        R = R, LoraAlpha = LoraAlpha, LoraDropout = LoraDropout, FanInFanOut = FanInFanOut, UseRsLora = UseRsLora,
        InitLoraWeights = InitLoraWeights ? LoraInit.Default : LoraInit.Random, TargetModules = TargetModules,
        ExcludeModules = ExcludeModules, LayersToTransform = LayersToTransform, LayersPattern = LayersPattern,
        ModulesToSave = ModulesToSave, TaskType = TaskType, BaseModelNameOrPath = BaseModelNameOrPath, Seed = Seed,
    };

    /// <summary>The zoo's LoRA-MGPO: LoRA's preset (rank = size, alpha = 2 rank, every block projection) with the reference's NLU ρ and β.</summary>
    public static LoraMgpoConfig Preset(AdapterPreset p) => new() { R = p.Size, LoraAlpha = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}

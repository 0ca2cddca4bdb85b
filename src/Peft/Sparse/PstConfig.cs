namespace Engine.Peft.Sparse;

/// <summary>
/// PST, parameter-efficient sparse training (Li et al. 2022, IJCAI, arXiv 2205.11005; AliceMind
/// <c>S4/PST/pst/sparse.py</c>, <c>pst/utils.py</c>; spec adapters-other.md section 4). Each targeted weight becomes
/// W′ = W0 + β U V; its entries are scored S = |W′| + α1 A B + α2 (R 1ᵀ + 1 Cᵀ) (data-free magnitude plus a learned
/// low-rank and a learned row/column importance) and the ⌊s_t · out · in⌋ lowest are pruned: y = x (M ⊙ W′)ᵀ + b.
/// The sparsity s_t follows the cubic schedule of <c>schedule_sparsity_ratio</c> over <see cref="TotalStep"/> steps.
/// Not in Hugging Face PEFT: saved in its layout with the engine's <c>peft_type</c> "PST" (U, V, A, B, R, C and the
/// number of pruned entries of each weight). Merging replaces the weight by the sparse M ⊙ W′ (the reference's
/// <c>convert</c>), which is not W0 + ΔW; unmerging restores the saved W0.
/// <code>var peft = Peft.Apply(gpt, new PstConfig { Sparsity = 0.5, TotalStep = 300, TargetModules = ["qkv", "mlp.fc"] });</code>
/// </summary>
[PeftMethod("PST", Layer = typeof(PstLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 3e-3)]
public sealed record PstConfig : PeftConfig
{
    /// <summary>r_w, the rank of the weight update β U V (the reference's <c>weight_rank</c>).</summary>
    public int WeightRank { get; init; } = 8;

    /// <summary>β, the scale of U V (<c>weight_beta</c>).</summary>
    public double WeightBeta { get; init; } = 1;

    /// <summary>r_m, the rank of the learned importance A B (<c>mask_rank</c>).</summary>
    public int MaskRank { get; init; } = 8;

    /// <summary>α1, the weight of A B in the score (<c>mask_alpha1</c>).</summary>
    public double MaskAlpha1 { get; init; } = 1;

    /// <summary>α2, the weight of the row and column importances R and C (<c>mask_alpha2</c>).</summary>
    public double MaskAlpha2 { get; init; } = 1;

    /// <summary>s_f, the final sparsity (the reference's <c>--sparsity</c>, 0.9).</summary>
    public double Sparsity { get; init; } = 0.9;

    /// <summary>s_i, the sparsity during the initial warm-up (<c>--initial_sparsity</c>, 0: the adapter starts at the base).</summary>
    public double InitialSparsity { get; init; }

    /// <summary>w_i: the first w_i · T steps stay at s_i (<c>--initial_warmup</c>).</summary>
    public double InitialWarmup { get; init; } = 0.1;

    /// <summary>w_f: the last w_f · T steps are at s_f (<c>--final_warmup</c>).</summary>
    public double FinalWarmup { get; init; } = 0.3;

    /// <summary>T, the optimiser steps of the run (the reference's <c>max_train_steps</c>); null: no schedule, the saved sparsity stays.</summary>
    public int? TotalStep { get; init; }

    /// <summary>The sparsity schedule, or null without <see cref="TotalStep"/>.</summary>
    public CubicSchedule? Schedule => TotalStep is { } t
        ? new CubicSchedule(InitialSparsity, Sparsity, InitialWarmup * t, FinalWarmup * t, t) : null;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (WeightRank < 1) throw new ArgumentException($"PstConfig: weight_rank must be positive, got {WeightRank}");
        if (MaskRank < 1) throw new ArgumentException($"PstConfig: mask_rank must be positive, got {MaskRank}");
        foreach (var (name, v) in new[] { ("weight_beta", WeightBeta), ("mask_alpha1", MaskAlpha1), ("mask_alpha2", MaskAlpha2) })
            if (!double.IsFinite(v)) throw new ArgumentException($"PstConfig: {name} must be finite, got {v}");
        foreach (var (name, v) in new[] { ("sparsity", Sparsity), ("initial_sparsity", InitialSparsity), ("initial_warmup", InitialWarmup), ("final_warmup", FinalWarmup) })
            if (!(v >= 0 && v <= 1)) throw new ArgumentException($"PstConfig: {name} must be in [0, 1], got {v}");
        if (InitialWarmup + FinalWarmup >= 1) throw new ArgumentException($"PstConfig: initial_warmup + final_warmup must be below 1, got {InitialWarmup} + {FinalWarmup}");
        if (TotalStep is < 1) throw new ArgumentException($"PstConfig: total_step must be positive, got {TotalStep}");
    }

    /// <summary>
    /// The zoo's PST: every projection, r_w = r_m = size / 2 (U V and A B together hold about LoRA's count at the same
    /// size, plus R and C), the schedule over the run, and a final sparsity of 0.5 instead of the paper's 0.9: the zoo
    /// fine-tunes the names model on a new task, where pruning nine tenths of every projection would destroy it.
    /// </summary>
    public static PstConfig Preset(AdapterPreset p) => new()
    {
        WeightRank = Math.Max(1, p.Size / 2), MaskRank = Math.Max(1, p.Size / 2), Sparsity = 0.5, TotalStep = p.Steps,
        TargetModules = p.Linears, Seed = p.Seed,
    };
}

namespace Engine.Nn;

/// <summary>
/// How Mixture-of-Recursions decides each token's depth (Bae et al. 2025, section 2.2; spec structure-and-optimizers.md 1.2).
/// </summary>
public enum MorRouting
{
    /// <summary>
    /// Each recursion step is an "expert" that keeps the top β_r·T of the tokens that survived the previous step
    /// (reference: <c>model/mor_model/expert_choice_router.py</c>). Not causal in training; see
    /// <see cref="MorConfig.ThresholdInEval"/> for the causal inference path.
    /// </summary>
    ExpertChoice,

    /// <summary>
    /// One router at the first recursion gives each token a depth j (top-1 of N_r); the token runs j + 1 steps
    /// (reference: <c>model/mor_model/token_choice_router.py</c>). Causal.
    /// </summary>
    TokenChoice,
}

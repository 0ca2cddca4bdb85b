namespace Engine.Nn;

/// <summary>
/// Which keys and values a recursion step attends to (Bae et al. 2025, section 2.3; spec structure-and-optimizers.md 1.2).
/// The full forward and incremental decoding implement the same rule, so decoding token by token reproduces it.
/// </summary>
public enum MorKvMode
{
    /// <summary>
    /// Recursion-wise caching: step r computes and caches keys and values only for the tokens it processes, and its
    /// attention sees only those tokens (causally). The paper's preferred mode.
    /// </summary>
    RecursionWise,

    /// <summary>
    /// Recursive KV sharing: the first recursion runs every token and its keys and values are reused by every later
    /// step, whose queries (the tokens it keeps) see all earlier positions. Later steps compute no keys or values.
    /// Spec 1.2 and the reference's decoding cache (<c>RecursiveDynamicCache</c>: the first recursion writes, later ones
    /// read) define this rule; the reference's training forward instead reruns the block on every token at every step
    /// (<c>expert_choice_router.py</c>, <c>kv_sharing</c> branch), which its own decoding does not reproduce. We follow
    /// the decoding rule in both, so the full forward and token-by-token decoding agree.
    /// </summary>
    RecursiveSharing,
}

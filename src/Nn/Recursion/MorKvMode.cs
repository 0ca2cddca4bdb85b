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
    /// </summary>
    RecursiveSharing,
}

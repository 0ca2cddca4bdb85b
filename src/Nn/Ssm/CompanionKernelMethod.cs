namespace Engine.Nn;

/// <summary>How a <see cref="CompanionSsm"/> computes its kernel K_l = cᵀ A^l b (both differentiable, equal up to rounding).</summary>
public enum CompanionKernelMethod
{
    /// <summary>Shift plus rank one at the roots of unity, O((d + L) log(d + L)) per kernel (<see cref="CompanionKernel.Woodbury"/>).</summary>
    Woodbury,

    /// <summary>The Krylov sequence by doubling, O(d² L) per kernel (<see cref="CompanionKernel.KrylovKernel"/>).</summary>
    Krylov,
}

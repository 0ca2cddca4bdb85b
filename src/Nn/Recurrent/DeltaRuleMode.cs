namespace Engine.Nn;

/// <summary>Which of the two equal computations of the delta rule a <see cref="DeltaProduct"/> layer uses.</summary>
public enum DeltaRuleMode
{
    /// <summary>Token by token, Householder step by step (the reference; also what generation uses).</summary>
    Recurrent,

    /// <summary>Chunk-parallel WY / UT form (Yang et al. 2024, DeltaNet): matrix products inside a chunk, the state carried between chunks. For training.</summary>
    Chunked,
}

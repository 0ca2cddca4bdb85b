namespace Engine.Peft.RandomBasis;

/// <summary>
/// A method with VeRA's shared frozen random matrices (<see cref="VeraProjections"/>): VeRA (A [r, max in]) and
/// PVeRA (A [2r, max in]: a mean and a log-variance half). What the shared part needs to know of the configuration.
/// </summary>
public interface IRandomProjectionConfig
{
    /// <summary>The prefix of the file keys and buffers (<c>vera</c>: <c>base_model.vera_A</c>, <c>base_model.vera_B</c>).</summary>
    string ProjectionPrefix { get; }

    /// <summary>Rows of A [rows, max in].</summary>
    int ProjectionRowsA { get; }

    /// <summary>Columns of B [max out, columns].</summary>
    int ProjectionColumnsB { get; }

    /// <summary>Seed of the matrices (PEFT's <c>projection_prng_key</c>; the engine's generator, not torch's).</summary>
    ulong ProjectionPrngKey { get; }

    /// <summary>Files hold the matrices (PEFT's <c>save_projection</c>).</summary>
    bool SaveProjection { get; }
}

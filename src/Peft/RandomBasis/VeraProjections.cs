namespace Engine.Peft.RandomBasis;

/// <summary>
/// VeRA's shared frozen matrices A [rows, max in] and B [max out, r], created once per adapter on the model
/// (Kaiming-uniform with gain sqrt 2 as PEFT's <c>_kaiming_init</c>, A first, from <c>projection_prng_key</c>) and
/// sliced by every layer; in files under PEFT's keys <c>base_model.vera_A</c> and <c>base_model.vera_B</c> (PVeRA:
/// <c>pvera_A</c> [2r, max in], <c>pvera_B</c>). The method's configuration says which (<see cref="IRandomProjectionConfig"/>).
/// </summary>
public sealed class VeraProjections : SharedProjections
{
    /// <summary>Creates the matrices for the adapter's targets.</summary>
    public VeraProjections(AdapterModelPartContext context)
        : this(context, (IRandomProjectionConfig)context.Config, SharedBasisTargets.Of(context, context.Config.PeftType)) { }

    VeraProjections(AdapterModelPartContext context, IRandomProjectionConfig c, SharedBasisTargets t)
        : this(context, c, t, new Generator(c.ProjectionPrngKey)) { }

    // A is drawn before B, as in PEFT.
    VeraProjections(AdapterModelPartContext context, IRandomProjectionConfig c, SharedBasisTargets t, Generator g)
        : base(context, c.ProjectionPrefix, c.SaveProjection,
            Uniform([c.ProjectionRowsA, t.MaxIn], t.MaxIn, t.DType, g), Uniform([t.MaxOut, c.ProjectionColumnsB], c.ProjectionColumnsB, t.DType, g)) { }

    /// <summary>A [rows, max in] and B [max out, r] under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (IRandomProjectionConfig)context.Config;
        var t = SharedBasisTargets.Of(context, context.Config.PeftType);
        return Plan(c.ProjectionPrefix, [c.ProjectionRowsA, t.MaxIn], [t.MaxOut, c.ProjectionColumnsB]);
    }

    // U(-bound, bound), bound = sqrt 3 * sqrt 2 / sqrt fan_in.
    static Tensor Uniform(int[] shape, int fanIn, DType dtype, Generator generator)
    {
        double bound = Math.Sqrt(3) * Math.Sqrt(2) / Math.Sqrt(fanIn);
        return Tensor.Rand(shape, -bound, bound, dtype, generator);
    }
}

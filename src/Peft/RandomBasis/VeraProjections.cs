namespace Engine.Peft.RandomBasis;

/// <summary>
/// VeRA's shared frozen matrices A [r, max in] and B [max out, r], created once per adapter on the model
/// (Kaiming-uniform with gain sqrt 2 as PEFT's <c>_kaiming_init</c>, from <c>projection_prng_key</c>) and sliced by
/// every layer; in files under PEFT's keys <c>base_model.vera_A</c> and <c>base_model.vera_B</c>.
/// </summary>
public sealed class VeraProjections : SharedProjections
{
    /// <summary>Creates the matrices for the adapter's targets.</summary>
    public VeraProjections(AdapterModelPartContext context) : this(context, (VeraConfig)context.Config, SharedBasisTargets.Of(context, "VeRA")) { }

    VeraProjections(AdapterModelPartContext context, VeraConfig c, SharedBasisTargets t)
        : this(context, c, t, new Generator(c.ProjectionPrngKey)) { }

    // A is drawn before B, as in PEFT.
    VeraProjections(AdapterModelPartContext context, VeraConfig c, SharedBasisTargets t, Generator g)
        : base(context, "vera", c.SaveProjection, Uniform([c.R, t.MaxIn], t.MaxIn, t.DType, g), Uniform([t.MaxOut, c.R], c.R, t.DType, g)) { }

    /// <summary>A [r, max in] and B [max out, r] under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        int r = ((VeraConfig)context.Config).R;
        var t = SharedBasisTargets.Of(context, "VeRA");
        return Plan("vera", [r, t.MaxIn], [t.MaxOut, r]);
    }

    // U(-bound, bound), bound = sqrt 3 * sqrt 2 / sqrt fan_in.
    static Tensor Uniform(int[] shape, int fanIn, DType dtype, Generator generator)
    {
        double bound = Math.Sqrt(3) * Math.Sqrt(2) / Math.Sqrt(fanIn);
        return Tensor.Rand(shape, -bound, bound, dtype, generator);
    }
}

namespace Engine.Peft.RandomBasis;

/// <summary>
/// VeRA's shared frozen matrices A [r, max in] and B [max out, r], created once per adapter on the model
/// (Kaiming-uniform with gain sqrt 2 as PEFT's <c>_kaiming_init</c>, from <c>projection_prng_key</c>) and sliced by
/// every layer; in files under PEFT's keys <c>base_model.vera_A</c> and <c>base_model.vera_B</c>.
/// </summary>
public sealed class VeraProjections : AdapterModelPart, ISharedTensorOwner
{
    /// <summary>Creates the matrices for the adapter's targets.</summary>
    public VeraProjections(AdapterModelPartContext context) : base(context)
    {
        var c = (VeraConfig)context.Config;
        var (linears, maxIn, maxOut) = Targets(context);
        var dtype = linears[0].Weight.DType;
        var generator = new Generator(c.ProjectionPrngKey);
        RegisterBuffer("vera_A", Uniform([c.R, maxIn], maxIn, dtype, generator));
        RegisterBuffer("vera_B", Uniform([maxOut, c.R], c.R, dtype, generator));
    }

    /// <summary>A [r, max in] and B [max out, r] under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        int r = ((VeraConfig)context.Config).R;
        var (_, maxIn, maxOut) = Targets(context);
        return [new("base_model.vera_A", [r, maxIn]), new("base_model.vera_B", [maxOut, r])];
    }

    static (List<Linear> Linears, int MaxIn, int MaxOut) Targets(AdapterModelPartContext context)
    {
        var linears = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module).ToList();
        if (linears.Count == 0) throw new ArgumentException("VeRA: no target layers");
        return (linears, linears.Max(l => l.InFeatures), linears.Max(l => l.OutFeatures));
    }

    // U(-bound, bound), bound = sqrt 3 * sqrt 2 / sqrt fan_in.
    static Tensor Uniform(int[] shape, int fanIn, DType dtype, Generator generator)
    {
        double bound = Math.Sqrt(3) * Math.Sqrt(2) / Math.Sqrt(fanIn);
        return Tensor.Rand(shape, -bound, bound, dtype, generator);
    }

    /// <summary>The shared A [r, max in].</summary>
    public Tensor A => NamedBuffers().First(b => b.Name == "vera_A").Buffer;

    /// <summary>The shared B [max out, r].</summary>
    public Tensor B => NamedBuffers().First(b => b.Name == "vera_B").Buffer;

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        // PEFT keeps them on the tuner (base_model.vera_A.<name>) and strips the adapter name in files.
        bool saved = ((VeraConfig)Config).SaveProjection;
        yield return new("base_model.vera_A", A, saved, false);
        yield return new("base_model.vera_B", B, saved, false);
    }
}

namespace Engine.Peft.RandomBasis;

/// <summary>
/// VeRA's shared frozen matrices A [rows, max in] and B [max out, r], created once per adapter on the model
/// (Kaiming-uniform with gain sqrt 2 as PEFT's <c>_kaiming_init</c>, A first, from <c>projection_prng_key</c>) and
/// sliced by every layer; in files under PEFT's keys <c>base_model.vera_A</c> and <c>base_model.vera_B</c> (PVeRA:
/// <c>pvera_A</c> [2r, max in], <c>pvera_B</c>). The method's configuration says which (<see cref="IRandomProjectionConfig"/>).
/// </summary>
public sealed class VeraProjections : AdapterModelPart, ISharedTensorOwner
{
    /// <summary>Creates the matrices for the adapter's targets.</summary>
    public VeraProjections(AdapterModelPartContext context) : base(context)
    {
        var c = (IRandomProjectionConfig)context.Config;
        var (linears, maxIn, maxOut) = Targets(context);
        var dtype = linears[0].Weight.DType;
        var generator = new Generator(c.ProjectionPrngKey);
        _prefix = c.ProjectionPrefix;
        RegisterBuffer(_prefix + "_A", Uniform([c.ProjectionRowsA, maxIn], maxIn, dtype, generator));
        RegisterBuffer(_prefix + "_B", Uniform([maxOut, c.ProjectionColumnsB], c.ProjectionColumnsB, dtype, generator));
    }

    readonly string _prefix;

    /// <summary>A [rows, max in] and B [max out, r] under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (IRandomProjectionConfig)context.Config;
        var (_, maxIn, maxOut) = Targets(context);
        return [new($"base_model.{c.ProjectionPrefix}_A", [c.ProjectionRowsA, maxIn]), new($"base_model.{c.ProjectionPrefix}_B", [maxOut, c.ProjectionColumnsB])];
    }

    static (List<Linear> Linears, int MaxIn, int MaxOut) Targets(AdapterModelPartContext context)
    {
        var linears = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module).ToList();
        if (linears.Count == 0) throw new ArgumentException($"{context.Config.PeftType}: no target layers");
        return (linears, linears.Max(l => l.InFeatures), linears.Max(l => l.OutFeatures));
    }

    // U(-bound, bound), bound = sqrt 3 * sqrt 2 / sqrt fan_in.
    static Tensor Uniform(int[] shape, int fanIn, DType dtype, Generator generator)
    {
        double bound = Math.Sqrt(3) * Math.Sqrt(2) / Math.Sqrt(fanIn);
        return Tensor.Rand(shape, -bound, bound, dtype, generator);
    }

    /// <summary>The shared A [rows, max in].</summary>
    public Tensor A => NamedBuffers().First(b => b.Name == _prefix + "_A").Buffer;

    /// <summary>The shared B [max out, r].</summary>
    public Tensor B => NamedBuffers().First(b => b.Name == _prefix + "_B").Buffer;

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        // PEFT keeps them on the tuner (base_model.vera_A.<name>) and strips the adapter name in files.
        bool saved = ((IRandomProjectionConfig)Config).SaveProjection;
        yield return new($"base_model.{_prefix}_A", A, saved, false);
        yield return new($"base_model.{_prefix}_B", B, saved, false);
    }
}

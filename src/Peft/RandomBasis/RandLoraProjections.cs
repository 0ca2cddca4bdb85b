namespace Engine.Peft.RandomBasis;

/// <summary>
/// RandLoRA's shared frozen bases (PEFT's <c>randlora/model.py</c>): A [r, 1, min dim] and B [max dim, N, r], N =
/// ceil(min dim / r), from the element-wise largest (out, in) of the targets. Dense: Kaiming-uniform (a = sqrt 5,
/// fan-in the product of the trailing dimensions; B as N draws of [max dim, 1, r]); sparse: ternary {-1, 0, 1} with
/// P(±1) = 1 / (2 s) each; both then divided by their own standard deviation. Files: <c>base_model.randlora_A</c>
/// and <c>base_model.randlora_B</c>.
/// </summary>
public sealed class RandLoraProjections : SharedProjections
{
    /// <summary>Creates the bases for the adapter's targets.</summary>
    public RandLoraProjections(AdapterModelPartContext context) : this(context, (RandLoraConfig)context.Config, SharedBasisTargets.Of(context, "RandLoRA")) { }

    RandLoraProjections(AdapterModelPartContext context, RandLoraConfig c, SharedBasisTargets t) : this(context, c, Bases(c, t)) { }

    RandLoraProjections(AdapterModelPartContext context, RandLoraConfig c, (Tensor A, Tensor B) bases)
        : base(context, "randlora", c.SaveProjection, bases.A, bases.B) { }

    /// <summary>The number of bases that makes a [out, in] update full rank: ceil(min(out, in) / r).</summary>
    public static int NumBases(int minDim, int r) => (minDim + r - 1) / r;

    /// <summary>A and B under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        int r = ((RandLoraConfig)context.Config).R;
        var t = SharedBasisTargets.Of(context, "RandLoRA");
        return Plan("randlora", [r, 1, t.MinDim], [t.MaxDim, NumBases(t.MinDim, r), r]);
    }

    static (Tensor A, Tensor B) Bases(RandLoraConfig c, SharedBasisTargets t)
    {
        var g = new Generator(c.ProjectionPrngKey);
        int n = NumBases(t.MinDim, c.R);
        Tensor a, b;
        if (c.VerySparse || c.Sparse)
        {
            double s = c.VerySparse ? Math.Sqrt(t.MinDim) : 3;
            a = Ternary([c.R, 1, t.MinDim], s, t.DType, g);
            b = Ternary([t.MaxDim, n, c.R], s, t.DType, g);
        }
        else
        {
            // kaiming_uniform_(a = sqrt 5): U(±1/sqrt(fan_in)); B's N draws of [max, 1, r] have fan_in r.
            a = Tensor.Rand([c.R, 1, t.MinDim], -1 / Math.Sqrt(t.MinDim), 1 / Math.Sqrt(t.MinDim), t.DType, g);
            b = Tensor.Rand([t.MaxDim, n, c.R], -1 / Math.Sqrt(c.R), 1 / Math.Sqrt(c.R), t.DType, g);
        }
        // Normalised by their own standard deviation ("empirically found to be the best", PEFT).
        return (Normalised(a), Normalised(b));
    }

    static Tensor Ternary(int[] shape, double s, DType dtype, Generator g)
    {
        var u = Tensor.Rand(shape, 0, 1, DType.Float64, g).ToDoubleArray();
        var v = u.Select(x => x < 1 / (2 * s) ? -1.0 : x > 1 - 1 / (2 * s) ? 1.0 : 0.0).ToArray();
        return Tensor.FromArray(v, shape).To(dtype);
    }

    static Tensor Normalised(Tensor t)
    {
        double std = t.Std().Item();
        return std > 0 ? t / std : t;
    }
}

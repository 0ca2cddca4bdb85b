namespace Engine.Peft.Lycoris;

/// <summary>
/// A <see cref="Linear"/> with LoKr adapters (PEFT's <c>lokr.Linear</c>): ΔW = s kron(W1, W2), s = alpha / r, i.e.
/// ΔW[i b + k, j d + l] = s W1[i, j] W2[k, l], with (a, b) = factorization(out), (c, d) = factorization(in).
/// W1 [a, c] is <c>lokr_w1</c>, or <c>lokr_w1_a</c> [a, r] <c>lokr_w1_b</c> [r, c] with decompose_both and r &lt; max(a, c) / 2;
/// W2 [b, d] is <c>lokr_w2</c> when r &gt;= max(b, d) / 2, else <c>lokr_w2_a</c> [b, r] <c>lokr_w2_b</c> [r, d].
/// </summary>
public sealed class LokrLayer : LycorisLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public LokrLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The tensors of one adapter: each factor full, or as two rank-r parts, by PEFT's rule.</summary>
    sealed record Shape(int A, int B, int C, int D, int R, bool FullW1, bool FullW2);

    Shape ShapeFor(AdapterContext context)
    {
        var c = context.ConfigAs<LokrConfig>();
        int r = c.RankFor(context.Path);
        if (r < 1) throw new ArgumentException($"LokrLayer: rank must be positive at '{context.Path.External}', got {r}");
        var (a, b) = LokrFactorization.Split(OutFeatures, c.DecomposeFactor);
        var (cc, d) = LokrFactorization.Split(InFeatures, c.DecomposeFactor);
        return new(a, b, cc, d, r, !(c.DecomposeBoth && r < Math.Max(a, cc) / 2.0), !(r < Math.Max(b, d) / 2.0));
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var s = ShapeFor(context);
        var plan = new List<PlannedTensor>();
        if (s.FullW1) plan.Add(Planned("lokr_w1", null, s.A, s.C));
        else plan.AddRange([Planned("lokr_w1_a", null, s.A, s.R), Planned("lokr_w1_b", null, s.R, s.C)]);
        if (s.FullW2) plan.Add(Planned("lokr_w2", null, s.B, s.D));
        else plan.AddRange([Planned("lokr_w2_a", null, s.B, s.R), Planned("lokr_w2_b", null, s.R, s.D)]);
        return plan;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var init = context.ConfigAs<LokrConfig>().InitWeights;
        var s = ShapeFor(context);
        Configure(context, context.ConfigAs<LokrConfig>().RankDropoutScale);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        Tensor Draw(int rows, int cols, bool zero) => zero ? Tensor.Zeros([rows, cols], dtype) : Kaiming(rows, cols, dtype, g);
        // PEFT's init: the default zeroes W1 (or W1a), "lycoris" W2 (or W2b), false none; the rest Kaiming-uniform.
        bool zeroW1 = init == LokrInit.Default, zeroW2 = init == LokrInit.Lycoris;
        if (s.FullW1) AddParameter("lokr_w1", context.Name, Draw(s.A, s.C, zeroW1));
        else
        {
            AddParameter("lokr_w1_a", context.Name, Draw(s.A, s.R, zeroW1));
            AddParameter("lokr_w1_b", context.Name, Draw(s.R, s.C, false));
        }
        if (s.FullW2) AddParameter("lokr_w2", context.Name, Draw(s.B, s.D, zeroW2));
        else
        {
            AddParameter("lokr_w2_a", context.Name, Draw(s.B, s.R, false));
            AddParameter("lokr_w2_b", context.Name, Draw(s.R, s.D, zeroW2));
        }
    }

    /// <summary>W1 [a, c], formed from its parts when decomposed.</summary>
    public Tensor W1(string name) => AdapterTensors(name).Any(t => t.Key == "lokr_w1") ? Parameter("lokr_w1", name) : Parameter("lokr_w1_a", name) % Parameter("lokr_w1_b", name);

    /// <summary>W2 [b, d], formed from its parts when decomposed.</summary>
    public Tensor W2(string name) => AdapterTensors(name).Any(t => t.Key == "lokr_w2") ? Parameter("lokr_w2", name) : Parameter("lokr_w2_a", name) % Parameter("lokr_w2_b", name);

    /// <summary>s kron(W1, W2) [out, in].</summary>
    public override Tensor DeltaWeight(string name) => Kron(W1(name), W2(name)) * Settings(name).Scaling;

    /// <summary>The Kronecker product of <paramref name="x"/> [a, c] and <paramref name="y"/> [b, d]: [a b, c d], as torch.kron.</summary>
    public static Tensor Kron(Tensor x, Tensor y)
    {
        int a = x.Size(0), c = x.Size(1), b = y.Size(0), d = y.Size(1);
        // [a, 1, c, 1] * [1, b, 1, d] = [a, b, c, d]: row i b + k, column j d + l.
        return (x.Reshape(a, 1, c, 1) * y.Reshape(1, b, 1, d)).Reshape(a * b, c * d);
    }
}

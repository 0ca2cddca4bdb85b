using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// Gradients of the fused attention op (<see cref="Tensor.TryFusedAttention"/>): finite differences in q, k and v,
/// with and without the causal mask, cached positions (T_keys > T), a key padding mask and strided inputs; second
/// order (the composed backward a recorded backward uses); and, in Float32 at lengths that span several query
/// blocks, the kernel's gradients against the same math composed from tensor ops.
/// </summary>
public class AttentionGradTests
{
    // (batch, heads, queries, past, head size, causal, padded, seed)
    static Gen<(int B, int H, int T, int Past, int D, bool Causal, bool Padded, int Seed)> Sizes =>
        from b in Gen.Choose(1, 2)
        from h in Gen.Choose(1, 3)
        from t in Gen.Choose(1, 6)
        from past in Gen.Choose(0, 3)
        from d in Gen.Choose(1, 5)
        from causal in Gen.Elements(true, false)
        from padded in Gen.Elements(true, false)
        from seed in Gen.Choose(0, 1000)
        select (b, h, t, past, d, causal, padded, seed);

    static Tensor Fused(Tensor q, Tensor k, Tensor v, bool causal, int past, Tensor? mask)
    {
        Assert.True(Tensor.TryFusedAttention(q, k, v, causal, past, mask, out var y), "the fused kernel applies to CPU Float64/Float32");
        return y;
    }

    // Pads the last key of every sequence but the first (key 0 stays visible, so no row is fully masked).
    static Tensor PaddingMask(int b, int tk)
    {
        var masked = new bool[b * tk];
        for (int i = 1; i < b; i++) masked[i * tk + tk - 1] = tk > 1;
        return Tensor.FromArray(masked, [b, tk]);
    }

    [Fact]
    public void FusedAttention_InQueriesKeysAndValues_MatchesFiniteDifferences()
        => GradProperty.ForAll(Sizes, p =>
        {
            int tk = p.T + p.Past;
            var gen = new Generator((ulong)p.Seed);
            var q = Tensor.Randn([p.B, p.H, p.T, p.D], dtype: DType.Float64, generator: gen);
            var k = Tensor.Randn([p.B, p.H, tk, p.D], dtype: DType.Float64, generator: gen);
            // v as the transposed view of a [B, T_keys, H, D] tensor, the layout a fused qkv projection gives.
            var v = Tensor.Randn([p.B, tk, p.H, p.D], dtype: DType.Float64, generator: gen);
            var mask = p.Padded ? PaddingMask(p.B, tk) : null;
            GradProperty.Check(t => Fused(t[0], t[1], t[2].Transpose(1, 2), p.Causal, p.Past, mask), [q, k, v]);
        });

    [Fact]
    public void FusedAttention_SecondOrder_MatchesFiniteDifferences()
    {
        var gen = new Generator(7);
        var q = Tensor.Randn([1, 2, 3, 2], dtype: DType.Float64, generator: gen);
        var k = Tensor.Randn([1, 2, 4, 2], dtype: DType.Float64, generator: gen);
        var v = Tensor.Randn([1, 2, 4, 2], dtype: DType.Float64, generator: gen);
        GradProperty.CheckSecondOrder(t => Fused(t[0], t[1], t[2], causal: true, past: 1, PaddingMask(1, 4)), [q, k, v]);
        GradProperty.CheckSecondOrder(t => Fused(t[0], t[1], t[2], causal: false, past: 0, null), [q, k, v]);
    }

    [Theory]
    [InlineData(2, 4, 128, 0, 32, true)]
    [InlineData(1, 1, 700, 0, 8, true)]    // more query rows than one block of the kernel
    [InlineData(1, 2, 650, 50, 16, false)]
    [InlineData(2, 2, 300, 20, 16, true)]   // causal blocks that each skip the keys after their last query
    public void FusedAttentionGradients_InFloat32_MatchTheComposedOps(int b, int h, int t, int past, int d, bool causal)
    {
        int tk = t + past;
        var gen = new Generator(11);
        var q = Tensor.Randn([b, h, t, d], generator: gen);
        var k = Tensor.Randn([b, h, tk, d], generator: gen);
        var v = Tensor.Randn([b, h, tk, d], generator: gen);
        var weight = Tensor.Randn([b, t, h * d], generator: gen);
        var mask = PaddingMask(b, tk);

        Tensor[] Gradients(Func<Tensor, Tensor, Tensor, Tensor> attention)
        {
            var leaves = new[] { q.Detach().RequireGrad(), k.Detach().RequireGrad(), v.Detach().RequireGrad() };
            return Autograd.Grad((attention(leaves[0], leaves[1], leaves[2]) * weight).Sum(), leaves);
        }

        var fused = Gradients((q, k, v) => Fused(q, k, v, causal, past, mask));
        var composed = Gradients((q, k, v) =>
        {
            var scores = q.MatMul(k.MT) * (1 / Math.Sqrt(d));
            var hidden = Tensor.Arange(tk).Unsqueeze(0) > Tensor.Arange(t).Unsqueeze(1) + past;
            if (causal) scores = scores.MaskedFill(hidden, double.NegativeInfinity);
            scores = scores.MaskedFill(mask.Reshape(b, 1, 1, tk), double.NegativeInfinity);
            return scores.Softmax(-1).MatMul(v).Transpose(1, 2).Reshape(b, t, h * d);
        });
        for (int i = 0; i < 3; i++)
        {
            var (x, y) = (fused[i].ToArray<float>(), composed[i].ToArray<float>());
            double scale = y.Max(Math.Abs);
            for (int j = 0; j < x.Length; j++)
                Assert.True(Math.Abs(x[j] - y[j]) <= 1e-4 * scale + 1e-6, $"gradient {"qkv"[i]} at {j}: fused {x[j]}, composed {y[j]}");
        }
    }
}

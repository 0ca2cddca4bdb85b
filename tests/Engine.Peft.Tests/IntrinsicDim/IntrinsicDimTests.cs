using Engine.Peft.IntrinsicDim;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.IntrinsicDim;

/// <summary>
/// Intrinsic-dimension training (arXiv 1804.08838; spec structure-and-optimizers.md §4.1): each projection against an
/// explicitly built P [D, d] (P θ, the gradient Pᵀ g and unit columns for dense and sparse); the subspace model equals
/// its base at θ^(d) = 0 and its gradient of θ^(d) is Pᵀ times the full gradient of the targeted weights; P θ^(d) is
/// computed once per forward and again after a step; the file holds θ^(d) alone and reloads exactly; the trainable
/// count is d, whatever the model's size.
/// </summary>
public class IntrinsicDimTests
{
    static readonly long[] Sizes = [300, 700];
    const int Dim = 24;
    static readonly ModuleSelector Linears = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static double[,] Hadamard(int n)
    {
        var h = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) h[i, j] = int.PopCount(i & j) % 2 == 0 ? 1 : -1;
        return h;
    }

    // P [D, d] built entry by entry from the projection's drawn parts, without its Apply.
    static double[,] Explicit(SubspaceProjection projection, ulong seed)
    {
        int total = (int)projection.Coordinates, d = projection.Dimension;
        var p = new double[total, d];
        switch (projection)
        {
            case DenseProjection dense:
                // The same draws, normalised here.
                var draws = Tensor.Randn([total, d], 0, 1, DType.Float64, new Generator(seed)).ToArray<double>();
                for (int j = 0; j < d; j++)
                {
                    double norm = Math.Sqrt(Enumerable.Range(0, total).Sum(i => draws[i * d + j] * draws[i * d + j]));
                    for (int i = 0; i < total; i++) p[i, j] = draws[i * d + j] / norm;
                }
                AssertClose(dense.Matrix.ToArray<double>(), Flatten(p), 1e-12);
                break;
            case SparseProjection sparse:
                var (rows, cols, values) = (sparse.Rows.ToArray<long>(), sparse.Columns.ToArray<long>(), sparse.Values.ToArray<double>());
                for (int e = 0; e < rows.Length; e++) p[rows[e], cols[e]] += values[e];
                break;
            case FastfoodProjection fastfood:
                int length = fastfood.Length;
                var (b, perm, g) = (fastfood.Signs.ToArray<double>(), fastfood.Permutation.ToArray<long>(), fastfood.Gaussian.ToArray<double>());
                var h = Hadamard(length);
                // Column j: H (G ⊙ Π(H (B ⊙ e_j))), then the first D rows over the divisor.
                for (int j = 0; j < d; j++)
                {
                    var first = Enumerable.Range(0, length).Select(i => h[i, j] * b[j]).ToArray();
                    var mixed = Enumerable.Range(0, length).Select(i => first[perm[i]] * g[i]).ToArray();
                    for (int i = 0; i < total; i++)
                    {
                        double sum = 0;
                        for (int k = 0; k < length; k++) sum += h[i, k] * mixed[k];
                        p[i, j] = sum / fastfood.Divisor;
                    }
                }
                break;
        }
        return p;
    }

    static double[] Flatten(double[,] a) => a.Cast<double>().ToArray();

    static void AssertClose(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData(SubspaceProjection.Fastfood)]
    [InlineData(SubspaceProjection.Dense)]
    [InlineData(SubspaceProjection.Sparse)]
    public void Projection_IsTheExplicitMatrix_AndItsGradientIsTheTranspose(string kind)
    {
        var projection = SubspaceProjection.Create(kind, Sizes, Dim, 11, DType.Float64);
        var p = Explicit(projection, 11);
        int total = (int)projection.Coordinates;
        var theta = Tensor.Randn([Dim], 0, 1, DType.Float64, new Generator(3)).RequireGrad();
        var g = Tensor.Randn([total], 0, 1, DType.Float64, new Generator(4));
        var z = projection.Apply(theta);
        var (t, gs) = (theta.ToArray<double>(), g.ToArray<double>());
        AssertClose(Enumerable.Range(0, total).Select(i => Enumerable.Range(0, Dim).Sum(j => p[i, j] * t[j])).ToArray(), z.ToArray<double>(), 1e-10);
        (z * g).Sum().Backward();
        AssertClose(Enumerable.Range(0, Dim).Select(j => Enumerable.Range(0, total).Sum(i => p[i, j] * gs[i])).ToArray(), theta.Grad!.ToArray<double>(), 1e-10);
        var norms = Enumerable.Range(0, Dim).Select(j => Math.Sqrt(Enumerable.Range(0, total).Sum(i => p[i, j] * p[i, j]))).ToArray();
        if (kind == SubspaceProjection.Fastfood)
            Assert.InRange(norms.Select(n => n * n).Average(), 0.8, 1.2); // unit length in expectation only
        else
            AssertClose(Enumerable.Repeat(1.0, Dim).ToArray(), norms, 1e-12);
    }

    [Fact]
    public void SparseProjection_HasAboutSqrtOfEachLayerEntriesPerDirection()
    {
        var sparse = (SparseProjection)SubspaceProjection.Create(SubspaceProjection.Sparse, Sizes, Dim, 11, DType.Float64);
        Assert.Equal(Dim * (17 + 26), sparse.Rows.Numel); // round(√300) = 17, round(√700) = 26
        var rows = sparse.Rows.ToArray<long>();
        Assert.All(rows.Take(Dim * 17), r => Assert.InRange(r, 0, 299));
        Assert.All(rows.Skip(Dim * 17), r => Assert.InRange(r, 300, 999));
    }

    [Theory]
    [InlineData(SubspaceProjection.Dense, 5000, 20000)]
    [InlineData(SubspaceProjection.Fastfood, 100, 101)]
    [InlineData("gaussian", 100, 10)]
    public void Projection_ThatCannotBeDrawn_IsRefusedNamingTheLimit(string kind, long size, int dim)
    {
        var e = Assert.Throws<ArgumentException>(() => SubspaceProjection.Create(kind, [size], dim, 1, DType.Float32));
        Assert.Contains("intrinsic", e.Message);
    }

    static PeftModel<Gpt> Subspace(string kind, out IntrinsicDimSubspace part, int dim = Dim, Gpt? model = null)
    {
        var peft = Peft.Apply(model ?? TinyGpt(), new IntrinsicDimConfig { IntrinsicDim = dim, Projection = kind, ProjectionSeed = 9, TargetModules = Linears });
        part = (IntrinsicDimSubspace)peft.ModelPart("default")!;
        return peft;
    }

    [Theory]
    [InlineData(SubspaceProjection.Fastfood)]
    [InlineData(SubspaceProjection.Dense)]
    [InlineData(SubspaceProjection.Sparse)]
    public void SubspaceModel_AtZeroCoordinates_EqualsTheBase_AndItsGradientIsPTransposeTimesTheFullGradient(string kind)
    {
        var ids = Ids();
        var expected = TinyGpt().Forward(ids);
        var peft = Subspace(kind, out var part);
        Assert.Equal(expected.ToArray<float>(), peft.Forward(ids).ToArray<float>());

        using (Autograd.Autograd.NoGrad()) part.Theta.CopyFrom(Tensor.Randn([Dim], 0, 2, DType.Float32, new Generator(5)));
        var weights = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.RequireGrad()).ToList();
        var loss = (peft.Forward(ids) * Tensor.Randn([2, 5, 13], generator: new Generator(6))).Sum();
        loss.Backward();
        // ∂L/∂θ^(D): the targeted weights' gradients in the subspace's order (module order), row-major.
        var full = weights.SelectMany(w => w.Grad!.ToArray<float>()).Select(v => (double)v).ToArray();
        Assert.Equal(part.Coordinates, full.Length);
        var p = Explicit(SubspaceProjection.Create(kind, peft.AdapterLayers().Select(l => (long)l.Layer.BaseLayer.Weight.Numel).ToArray(), Dim, 9, DType.Float64), 9);
        var expectedGrad = Enumerable.Range(0, Dim).Select(j => Enumerable.Range(0, full.Length).Sum(i => p[i, j] * full[i])).ToArray();
        AssertClose(expectedGrad, part.Theta.Grad!.ToArray<float>().Select(v => (double)v).ToArray(), 1e-4);
    }

    [Fact]
    public void GeneratedVector_IsComputedOncePerForward_AndAgainAfterAStepOrABackward()
    {
        var peft = Subspace(SubspaceProjection.Fastfood, out var part);
        var ids = Ids();
        var first = part.Generated();
        Assert.Same(first, part.Generated());
        // Two backward passes at the same θ^(d) (gradient accumulation): the second one regenerates past the released graph.
        peft.Forward(ids).Sum().Backward();
        var grad = part.Theta.Grad!.ToArray<float>();
        peft.Forward(ids).Sum().Backward();
        AssertClose(grad.Select(v => 2.0 * v).ToArray(), part.Theta.Grad!.ToArray<float>().Select(v => (double)v).ToArray(), 1e-5);
        using (Autograd.Autograd.NoGrad()) part.Theta.CopyFrom(part.Theta + 0.5);
        var moved = part.Generated();
        Assert.NotSame(first, moved);
        Assert.True(moved.Abs().Max().Item() > 0);
    }

    [Fact]
    public void SavedFile_HoldsTheCoordinatesAlone_AndReloadsExactly()
    {
        var peft = Subspace(SubspaceProjection.Sparse, out var part);
        using (Autograd.Autograd.NoGrad()) part.Theta.CopyFrom(Tensor.Randn([Dim], 0, 1, DType.Float32, new Generator(8)));
        var folder = Path.Combine(Path.GetTempPath(), "intrinsic-" + Guid.NewGuid().ToString("N"));
        try
        {
            peft.SavePretrained(folder);
            var saved = Engine.Nn.Checkpoints.Safetensors.Load(Path.Combine(folder, "adapter_model.safetensors"));
            Assert.Equal([IntrinsicDimSubspace.Key], saved.Keys);
            var json = File.ReadAllText(Path.Combine(folder, "adapter_config.json"));
            Assert.Contains("\"projection\": \"sparse\"", json);
            Assert.Contains("\"projection_seed\": 9", json);
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            Assert.Equal(peft.Forward(Ids()).ToArray<float>(), loaded.Forward(Ids()).ToArray<float>());
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void TrainableCount_IsTheDimension_WhateverTheModelSize()
    {
        var small = Subspace(SubspaceProjection.Fastfood, out _, 32);
        var large = Subspace(SubspaceProjection.Fastfood, out _, 32, (Gpt)new Gpt(new GptConfig(13, 16, 32, 4, 2, MlpRatio: 2), new Generator(1)).Eval());
        Assert.Equal(32, small.ParameterCount(trainableOnly: true));
        Assert.Equal(32, large.ParameterCount(trainableOnly: true));
    }
}

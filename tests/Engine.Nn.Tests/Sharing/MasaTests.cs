using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Sharing;

/// <summary>
/// MASA (spec adapters-other.md §14 oracles, structure-and-optimizers.md 1.6): S = L with identity coefficients and
/// D_s = W_s reproduces the base model exactly; PCA initialisation with S = L is exact; the gradient of c_{l,s} is
/// ⟨∂L/∂W_l, D_s⟩_F (the dense weight gradient written as loops) and GradCheck passes in Float64; the parameter count
/// per type is S·d_out·d_in + L·S; the atoms are one tensor in every layer.
/// </summary>
public class MasaTests
{
    static readonly long[,] Tokens = { { 1, 4, 2, 9, 3 }, { 7, 0, 5, 5, 10 } };

    static Gpt Model(int layers = 3, int? kvHeads = null, ulong seed = 1) => (Gpt)TinyGpt(layers, kvHeads: kvHeads, seed: seed).Eval();

    // Each layer's weight of each MASA type, read from the dense model (q, k, v the row blocks of qkv).
    static Dictionary<string, List<Tensor>> DenseByType(Gpt model, bool includeMlp)
    {
        var result = new Dictionary<string, List<Tensor>>();
        void Add(string type, Tensor w) { if (!result.TryGetValue(type, out var list)) result[type] = list = new(); list.Add(w.Detach().Clone()); }
        foreach (var t in GptLinears.Of(model))
        {
            var w = t.Linear.Weight;
            if (t.Kind == "qkv")
            {
                var attn = (MultiHeadAttention)t.Parent;
                int q = attn.Options.Heads * attn.HeadDim, kv = attn.KvHeads * attn.HeadDim;
                Add("q", w.Narrow(0, 0, q));
                Add("k", w.Narrow(0, q, kv));
                Add("v", w.Narrow(0, q + kv, kv));
            }
            else if (t.Kind == "o" || includeMlp) Add(t.Kind, w);
        }
        return result;
    }

    static IEnumerable<MasaWeight> Sources(Gpt model) => GptLinears.Of(model).Select(t => t.Module).OfType<ComputedLinear>().Select(c => (MasaWeight)c.Source);

    [Theory]
    [InlineData(null, false)]
    [InlineData(1, true)]
    public void WithSEqualL_IdentityCoefficients_AndLayerWeightsAsAtoms_ReproducesTheBaseModelExactly(int? kvHeads, bool includeMlp)
    {
        var model = Model(3, kvHeads);
        var before = model.Forward(Ids(Tokens)).ToDoubleArray();
        var dense = DenseByType(model, includeMlp);
        Masa.Apply(model, atoms: 3, MasaInit.Scratch, includeMlp, new Generator(2));
        using (Autograd.Autograd.NoGrad())
        {
            var sources = Sources(model).ToList();
            foreach (var (type, weights) in dense)
            {
                var owners = sources.Where(s => s.Types.Contains(type)).ToList();
                owners[0].Atoms(type).CopyFrom(Tensor.Stack(weights.ToArray(), 0));
                for (int l = 0; l < owners.Count; l++)
                    owners[l].Coefficients(type).CopyFrom(Tensor.FromArray(Enumerable.Range(0, 3).Select(s => s == l ? 1f : 0f).ToArray()));
            }
        }
        Assert.Equal(before, model.Forward(Ids(Tokens)).ToDoubleArray());
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData(1, true)]
    public void PcaInit_WithSEqualL_IsExact(int? kvHeads, bool includeMlp)
    {
        var model = Model(3, kvHeads);
        var before = model.Forward(Ids(Tokens)).ToDoubleArray();
        var dense = DenseByType(model, includeMlp);
        Masa.Apply(model, atoms: 3, MasaInit.Pca, includeMlp);
        foreach (var source in Sources(model))
            foreach (var type in source.Types)
            {
                var atoms = source.Atoms(type);
                // Orthonormal atoms (right singular vectors).
                var gram = atoms.Reshape(3, -1).MatMul(atoms.Reshape(3, -1).T);
                AssertClose(Tensor.Eye(3).ToDoubleArray(), gram.ToDoubleArray(), 1e-5, $"{type} atoms' Gram matrix");
            }
        foreach (var (type, weights) in dense)
        {
            var owners = Sources(model).Where(s => s.Types.Contains(type)).ToList();
            for (int l = 0; l < owners.Count; l++)
            {
                // W_l = Σ_s c_{l,s} D_s by loops.
                var c = owners[l].Coefficients(type).ToDoubleArray();
                var d = owners[l].Atoms(type).ToDoubleArray();
                int size = d.Length / 3;
                var w = new double[size];
                for (int s = 0; s < 3; s++) for (int k = 0; k < size; k++) w[k] += c[s] * d[s * size + k];
                AssertClose(weights[l].ToDoubleArray(), w, 1e-5, $"{type} layer {l}");
            }
        }
        AssertClose(before, model.Forward(Ids(Tokens)).ToDoubleArray(), 1e-5, "logits");
    }

    [Fact]
    public void PcaInit_WithFewerAtoms_IsTheBestRankSFit_ItsErrorIsTheSumOfTheDroppedEigenvaluesOfTheGram()
    {
        var stacked = DenseByType(Model(4), false)["q"];
        var x = Tensor.Stack(stacked.Select(w => w.Reshape(-1)).ToArray(), 0).To(DType.Float64);
        // Eckart–Young: the best rank-S fit leaves the L − S smallest eigenvalues of X Xᵀ (an eigen-solver, not the SVD).
        var eigen = Linalg.EighSymmetric(x.MatMul(x.T)).Eigenvalues.ToDoubleArray().OrderBy(e => e).ToArray();
        for (int s = 1; s <= 4; s++)
        {
            var model = Model(4);
            Masa.Apply(model, s, MasaInit.Pca);
            var fitted = Sources(model).Where(m => m.Types.Contains("q")).Select(m => m.Compute().Narrow(0, 0, 8)).ToList();
            double error = stacked.Zip(fitted, (a, b) => ((a - b) * (a - b)).Sum().ToDoubleArray()[0]).Sum();
            AssertClose(eigen.Take(4 - s).Sum(), error, 1e-4, $"error with {s} atoms");
        }
    }

    [Fact]
    public void CoefficientGradient_IsTheFrobeniusProductOfTheWeightGradientWithEachAtom()
    {
        int s = 3, rows = 4, cols = 5, n = 6;
        var atoms = Randn64(1, s, rows, cols).RequireGrad();
        var coef = Randn64(2, s).RequireGrad();
        var layer = new ComputedLinear(new MasaWeight([new MasaPart("o", atoms, coef)]), Randn64(3, rows));
        var x = Randn64(4, n, cols);
        var v = Randn64(5, n, rows);
        Autograd.Autograd.Backward((layer.Forward(x) * v).Sum());

        // ∂L/∂W[o, i] = Σ_r v[r, o] x[r, i]; ∂L/∂c_s = ⟨∂L/∂W, D_s⟩_F; ∂L/∂D_s = c_s ∂L/∂W.
        var (xs, vs, ds, cs) = (x.ToDoubleArray(), v.ToDoubleArray(), atoms.ToDoubleArray(), coef.ToDoubleArray());
        var gw = new double[rows * cols];
        for (int r = 0; r < n; r++) for (int o = 0; o < rows; o++) for (int i = 0; i < cols; i++) gw[o * cols + i] += vs[r * rows + o] * xs[r * cols + i];
        var gc = new double[s];
        var gd = new double[s * rows * cols];
        for (int a = 0; a < s; a++)
            for (int k = 0; k < rows * cols; k++)
            {
                gc[a] += gw[k] * ds[a * rows * cols + k];
                gd[a * rows * cols + k] = cs[a] * gw[k];
            }
        AssertClose(gc, coef.Grad!.ToDoubleArray(), 1e-10, "dL/dc");
        AssertClose(gd, atoms.Grad!.ToDoubleArray(), 1e-10, "dL/dD");
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void MasaGpt_PassesGradCheckInFloat64()
    {
        var model = Model(2, kvHeads: 1);
        Masa.Apply(model, 2, MasaInit.Scratch, includeMlp: true, new Generator(3));
        model.To(DType.Float64);
        var ids = Ids(Tokens);
        AssertParameterGradients(model, () => model.Forward(ids), perTensor: 6);
    }

    [Theory]
    [InlineData(4, 2, null, false)]
    [InlineData(4, 1, 1, true)]
    [InlineData(3, 5, null, false)]
    public void ParameterCount_PerType_IsSTimesOutTimesInPlusLTimesS(int layers, int s, int? kvHeads, bool includeMlp)
    {
        var model = Model(layers, kvHeads);
        long before = model.ParameterCount();
        var dense = DenseByType(model, includeMlp);
        var types = Masa.Apply(model, s, MasaInit.Scratch, includeMlp, new Generator(1));

        Assert.Equal(dense.Keys.OrderBy(k => k), types.Select(t => t.Type).OrderBy(k => k));
        long removed = 0, added = 0;
        foreach (var t in types)
        {
            var w = dense[t.Type][0];
            Assert.Equal((w.Size(0), w.Size(1), layers), (t.Rows, t.Cols, t.Layers));
            Assert.Equal((long)s * w.Size(0) * w.Size(1) + (long)layers * s, t.ParameterCount);
            removed += (long)layers * w.Size(0) * w.Size(1);
            added += (long)s * w.Size(0) * w.Size(1) + (long)layers * s;
        }
        Assert.Equal(before - removed + added, model.ParameterCount());
    }

    [Fact]
    public void AtomsAreOneTensorInEveryLayer_CoefficientsArePerLayer_AndScratchInitFollowsTheSpec()
    {
        var model = Model(3);
        Masa.Apply(model, 4, MasaInit.Scratch, generator: new Generator(5));
        var sources = Sources(model).Where(m => m.Types.Contains("q")).ToList();
        Assert.Equal(3, sources.Count);
        Assert.Same(sources[0].Atoms("q"), sources[2].Atoms("q"));
        Assert.NotSame(sources[0].Coefficients("q"), sources[1].Coefficients("q"));
        Assert.NotSame(sources[0].Atoms("q"), sources[0].Atoms("k"));
        // kaiming(√5): U(±1/√in); coefficients N(1/S, 0.02²): within 6σ of 1/S.
        Assert.All(sources[0].Atoms("q").ToDoubleArray(), a => Assert.InRange(Math.Abs(a), 0, 1 / Math.Sqrt(8)));
        Assert.All(sources.SelectMany(m => m.Coefficients("q").ToDoubleArray()), c => Assert.InRange(c, 0.25 - 0.12, 0.25 + 0.12));
        // Stored once: the other layers' atoms are aliases.
        Assert.Equal(2, model.TensorAliases().Count(a => a.Key.EndsWith("q_atoms")));
    }

    [Fact]
    public void Densify_KeepsTheFunction()
    {
        var model = Model(2);
        Masa.Apply(model, 1, MasaInit.Scratch, generator: new Generator(7));
        var shared = model.Forward(Ids(Tokens)).ToDoubleArray();
        Assert.Equal(4, ComputedLinear.Densify(model));
        AssertClose(shared, model.Forward(Ids(Tokens)).ToDoubleArray(), 1e-6, "logits");
    }

    [Fact]
    public void BadArguments_AreNamedErrors()
    {
        Assert.Contains("at least one atom", Assert.Throws<ArgumentException>(() => Masa.Apply(Model(2), 0)).Message);
        Assert.Contains("PCA gives at most", Assert.Throws<ArgumentException>(() => Masa.Apply(Model(2), 3, MasaInit.Pca)).Message);
        Assert.Contains("part 'o'", Assert.Throws<ArgumentException>(() => new MasaWeight([new MasaPart("o", Tensor.Zeros(2, 3, 4), Tensor.Zeros(3))])).Message);
    }
}

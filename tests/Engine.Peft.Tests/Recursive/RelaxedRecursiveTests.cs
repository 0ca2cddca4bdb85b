using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Engine.Peft.Recursive;
using Xunit;

namespace Engine.Peft.Tests.Recursive;

public class RelaxedRecursiveTests
{
    static readonly GptConfig Config = new(VocabSize: 13, ContextLength: 8, DModel: 8, Layers: 4, Heads: 2);

    static Gpt Dense() => (Gpt)new Gpt(Config, new Generator(21)).Eval();

    static Tensor Ids => Tensor.Randint(0, 13, [2, 8], generator: new Generator(4));

    [Fact]
    public void FullRank_ReproducesTheDenseModel()
    {
        var dense = Dense();
        var expected = dense.Forward(Ids);
        var peft = RelaxedRecursive.Convert(Dense(), new RelaxedRecursiveOptions(Loops: 2, Rank: 8))!;
        peft.Eval();
        AssertClose(expected, peft.Forward(Ids), 2e-5, "full-rank relaxed logits");
        // The weights really are shared: depth 0 and depth 2 (CYCLE with 2 unique blocks) hold one tensor.
        Assert.Same(peft.Model.Blocks[0].Attn.Qkv.Weight, peft.Model.Blocks[2].Attn.Qkv.Weight);
    }

    [Fact]
    public void StrictTying_ChangesTheModel_AndTheRelaxationRecoversIt()
    {
        var dense = Dense();
        var expected = dense.Forward(Ids);
        var tied = Dense();
        Assert.Null(RelaxedRecursive.Convert(tied, new RelaxedRecursiveOptions(2, 0)));
        double strictError = MaxAbs(expected, tied.Eval().Forward(Ids));
        var relaxed = RelaxedRecursive.Convert(Dense(), new RelaxedRecursiveOptions(2, 4))!;
        double relaxedError = MaxAbs(expected, relaxed.Eval().Forward(Ids));
        Assert.True(strictError > 1e-3, $"tying must change the function, max |Δ| {strictError}");
        Assert.True(relaxedError < strictError, $"rank 4 relaxation {relaxedError} must be closer than strict tying {strictError}");
    }

    [Fact]
    public void RankR_InitIsTheBestRankRApproximationOfEachResidual()
    {
        // Eckart–Young: ‖R − sBA‖²_F = the sum of the smallest n − r eigenvalues of RᵀR, computed here by a naive Jacobi
        // eigenvalue iteration (independent of the engine's SVD).
        var dense = Dense();
        var w1 = dense.Blocks[1].Mlp.Fc.Weight.ToArray<float>();
        var peft = RelaxedRecursive.Convert(dense, new RelaxedRecursiveOptions(Loops: 2, Rank: 3, Alpha: 6))!;
        var lora = Lora(peft.Model.Blocks[1].Mlp, "fc");
        var shared = lora.BaseLayer.Weight.ToArray<float>();
        var delta = lora.DeltaWeight("default").ToArray<float>();
        int rows = 32, cols = 8;
        var r = w1.Zip(shared, (a, b) => (double)a - b).ToArray();
        double error = 0;
        for (int i = 0; i < r.Length; i++) error += Math.Pow(r[i] - delta[i], 2);
        var gram = new double[cols, cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
                for (int k = 0; k < rows; k++) gram[i, j] += r[k * cols + i] * r[k * cols + j];
        var eigen = JacobiEigenvalues(gram).Order().ToArray();
        AssertClose(eigen.Take(cols - 3).Sum(), error, 1e-4, "rank-3 residual error");
    }

    [Fact]
    public void Merge_IsRefused_BecauseTheWeightIsSharedByOtherDepths()
    {
        var peft = RelaxedRecursive.Convert(Dense(), new RelaxedRecursiveOptions(2, 2))!;
        var e = Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Contains("tied", e.Message);
    }

    [Fact]
    public void Uptraining_TrainsTheSharedWeightsAndEachDepthsFactors()
    {
        var peft = RelaxedRecursive.Convert(Dense(), new RelaxedRecursiveOptions(2, 2))!;
        peft.Train();
        var shared = peft.Model.Blocks[0].Attn.Qkv.Weight;
        Assert.True(shared.RequiresGrad);
        var a0 = (Lora(peft.Model.Blocks[0].Attn, "qkv")).LoraA("default");
        var a2 = (Lora(peft.Model.Blocks[2].Attn, "qkv")).LoraA("default");
        Assert.NotSame(a0, a2);
        Autograd.Autograd.Backward(Losses.CrossEntropy(peft.Forward(Ids), Ids));
        Assert.NotNull(shared.Grad);
        Assert.NotNull(a0.Grad);
        Assert.NotNull(a2.Grad);
    }

    [Fact]
    public void SavedBaseAndAdapter_ReloadToTheSameModel()
    {
        var options = new RelaxedRecursiveOptions(2, 3);
        var peft = RelaxedRecursive.Convert(Dense(), options)!;
        peft.Eval();
        var expected = peft.Forward(Ids);
        string folder = Path.Combine(Path.GetTempPath(), $"engine-rrt-{Guid.NewGuid():N}");
        try
        {
            string file = Path.Combine(folder, "model.safetensors");
            Directory.CreateDirectory(folder);
            var tiedBase = RelaxedRecursive.TiedBase(peft, options);
            Assert.Same(tiedBase.Blocks[1].Mlp.Fc.Weight, tiedBase.Blocks[3].Mlp.Fc.Weight);
            TrainingCheckpoint.Save(file, tiedBase, null, 0);
            peft.SavePretrained(Path.Combine(folder, "adapter"));
            // The tied base loads into a plain GPT (the file lists the tied names), and the adapter onto it.
            var base2 = new Gpt(Config, new Generator(99));
            TrainingCheckpoint.Restore(file, base2);
            var loaded = Peft.FromPretrained(base2, Path.Combine(folder, "adapter"));
            loaded.Eval();
            AssertClose(expected, loaded.Forward(Ids), 1e-5, "reloaded relaxed recursive model");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Convert_RejectsLayersTheLoopsDoNotDivideAndRanksAboveTheWidth()
    {
        Assert.Throws<ArgumentException>(() => RelaxedRecursive.Convert(Dense(), new RelaxedRecursiveOptions(3, 2)));
        Assert.Throws<ArgumentException>(() => RelaxedRecursive.Convert(Dense(), new RelaxedRecursiveOptions(2, 9)));
    }

    static LoraLayer Lora(Module parent, string name) => (LoraLayer)parent.Children().Single(c => c.Name == name).Module;

    static double MaxAbs(Tensor a, Tensor b) => a.ToArray<float>().Zip(b.ToArray<float>(), (x, y) => Math.Abs((double)x - y)).Max();

    static double[] JacobiEigenvalues(double[,] input)
    {
        int n = input.GetLength(0);
        var a = (double[,])input.Clone();
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++) for (int q = p + 1; q < n; q++) off += a[p, q] * a[p, q];
            if (off < 1e-30) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    if (Math.Abs(a[p, q]) < 1e-300) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                }
        }
        return Enumerable.Range(0, n).Select(i => a[i, i]).ToArray();
    }
}

using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// Hand-checked cases of <see cref="Soap"/> (structure-and-optimizers.md §3.1, levanter soap.py): a constant diagonal
/// gradient with frequency 1 (the eigenbases are permutations, so the rotated Adam is elementwise and has a closed
/// form), the spec's "no rotation equals Adam" oracle (with levanter's update-free first step and correction, written
/// naively here), block independence (a blocked matrix equals its blocks optimised alone), and the same steps on
/// ILGPU's CPU accelerator on a full-rank square matrix.
/// </summary>
public class SoapTests
{
    const double B1 = 0.9, B2 = 0.99;

    [Fact]
    public void DiagonalGradient_FrequencyOne_IsElementwiseAdam_InClosedForm()
    {
        var d = new[] { 0.5, -2.0, 1.0, -0.25 };
        int n = d.Length;
        var g = Tensor.FromArray(Enumerable.Range(0, n * n).Select(k => k / n == k % n ? d[k / n] : 0.0).ToArray(), [n, n]);
        var p = Tensor.Zeros([n, n], DType.Float64).RequireGrad();
        var soap = new Soap([new ParamGroup([p], 1.0)], B1, B2, 0.95, preconditionFrequency: 1);
        var expected = new double[n];
        for (int t = 1; t <= 5; t++)
        {
            p.Grad = g.Clone();
            soap.Step();
            if (t >= 2)
            {
                // m_t = (1−β1^{t−1}) d, v_t = (1−β2^{t−1}) d², u = √(1−β2^t)/(1−β1^t) · m/(√v + ε).
                double correction = Math.Sqrt(1 - Math.Pow(B2, t)) / (1 - Math.Pow(B1, t));
                for (int i = 0; i < n; i++)
                    expected[i] -= correction * (1 - Math.Pow(B1, t - 1)) * d[i] / (Math.Sqrt(1 - Math.Pow(B2, t - 1)) * Math.Abs(d[i]) + 1e-8);
            }
            var actual = p.ToDoubleArray();
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    // 1e-7: off the diagonal the rotated entries are rounding noise m' ~ 1e-17 and m'/(√v'+ε) keeps ~1e-8 of it.
                    Assert.True(Math.Abs(actual[i * n + j] - (i == j ? expected[i] : 0)) < 1e-7, $"step {t} ({i},{j}): {actual[i * n + j]} vs {(i == j ? expected[i] : 0)}");
        }
        Assert.True(Math.Abs(expected[1]) > 1, "the closed form moved the parameter");
    }

    static Tensor Gradient(int rows, int cols, int t, int seed) =>
        Tensor.FromArray(Enumerable.Range(0, rows * cols).Select(i => Math.Sin(1.3 * i + 0.7 * t + seed) + 0.2 * Math.Cos(0.31 * i * i + t)).ToArray(), [rows, cols]);

    [Fact]
    public void NoRotation_WhenEveryDimExceedsMaxPreconditionDim_IsAdam_WithLevantersFirstStepAndCorrection()
    {
        var p = Tensor.FromArray(Enumerable.Range(0, 15).Select(i => 0.1 * i).ToArray(), [3, 5]).RequireGrad();
        var soap = new Soap([new ParamGroup([p], 0.01)], B1, B2, maxPreconditionDim: 0);
        var theta = p.ToDoubleArray();
        var m = new double[15];
        var v = new double[15];
        for (int t = 1; t <= 5; t++)
        {
            var g = Gradient(3, 5, t, 0);
            p.Grad = g;
            soap.Step();
            if (t == 1) continue;
            var gv = g.ToDoubleArray();
            double correction = Math.Sqrt(1 - Math.Pow(B2, t)) / (1 - Math.Pow(B1, t));
            for (int i = 0; i < 15; i++)
            {
                m[i] = B1 * m[i] + (1 - B1) * gv[i];
                v[i] = B2 * v[i] + (1 - B2) * gv[i] * gv[i];
                theta[i] -= 0.01 * correction * m[i] / (Math.Sqrt(v[i]) + 1e-8);
            }
        }
        var actual = p.ToDoubleArray();
        for (int i = 0; i < 15; i++) Assert.True(Math.Abs(actual[i] - theta[i]) < 1e-12, $"[{i}]: {actual[i]} vs {theta[i]}");
        Assert.DoesNotContain(soap.StateDict().Keys, k => k.Contains("QL_") || k.Contains("L_0_0"));
    }

    [Fact]
    public void BlockedMatrix_EqualsEachBlockOptimisedAlone()
    {
        // A 5×3 matrix in blocks of 2: rows {0-1, 2-3, 4}, columns {0-1, 2}.
        var whole = Tensor.FromArray(Enumerable.Range(0, 15).Select(i => Math.Cos(0.4 * i)).ToArray(), [5, 3]).RequireGrad();
        var blocked = new Soap([new ParamGroup([whole], 0.01, 0.1)], B1, B2, 0.9, preconditionFrequency: 2, blockSize: 2);
        (int R, int A, int C, int B)[] blocks = [(0, 2, 0, 2), (0, 2, 2, 1), (2, 2, 0, 2), (2, 2, 2, 1), (4, 1, 0, 2), (4, 1, 2, 1)];
        var pieces = blocks.Select(b => whole.Detach().Narrow(0, b.R, b.A).Narrow(1, b.C, b.B).Contiguous().Clone().RequireGrad()).ToArray();
        var alone = new Soap([new ParamGroup(pieces, 0.01, 0.1)], B1, B2, 0.9, preconditionFrequency: 2, blockSize: 256);
        for (int t = 1; t <= 5; t++)
        {
            var g = Gradient(5, 3, t, 2);
            whole.Grad = g;
            for (int k = 0; k < blocks.Length; k++) pieces[k].Grad = g.Narrow(0, blocks[k].R, blocks[k].A).Narrow(1, blocks[k].C, blocks[k].B).Contiguous();
            blocked.Step();
            alone.Step();
        }
        for (int k = 0; k < blocks.Length; k++)
        {
            var expected = pieces[k].ToDoubleArray();
            var actual = whole.Detach().Narrow(0, blocks[k].R, blocks[k].A).Narrow(1, blocks[k].C, blocks[k].B).ToDoubleArray();
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(actual[i] - expected[i]) < 1e-12, $"block {k} [{i}]: {actual[i]} vs {expected[i]}");
        }
        var state = blocked.StateDict();
        Assert.Equal([1, 1], state["0.0.L_2_1"].Shape);
        Assert.Equal([2, 2], state["0.0.QR_0_0"].Shape);
        Assert.False(state.ContainsKey("0.0.L_3_0"));
    }

    [Fact]
    public void LoadStateDict_RefusesABlockSlotOfTheWrongShape()
    {
        var p = Tensor.Zeros([4, 3], DType.Float64).RequireGrad();
        var soap = new Soap([new ParamGroup([p], 0.01)], blockSize: 2);
        var e = Assert.Throws<ArgumentException>(() => soap.LoadStateDict(new Dictionary<string, Tensor> { ["0.0.L_0_1"] = Tensor.Zeros([1, 1], DType.Float64) }));
        Assert.Contains("0.0.L_0_1", e.Message);
        Assert.Contains("[2,2]", e.Message);
    }

    static double[] Run(Device device)
    {
        var p = Tensor.FromArray(Enumerable.Range(0, 36).Select(i => (float)Math.Sin(0.3 * i)).ToArray(), [6, 6]).To(device).RequireGrad();
        var soap = new Soap([new ParamGroup([p], 0.01, 0.1)], preconditionFrequency: 2);
        for (int t = 1; t <= 4; t++)
        {
            p.Grad = Gradient(6, 6, t, 1).To(DType.Float32).To(device);
            soap.Step();
        }
        Assert.Equal(device, p.Device);
        Assert.All(soap.StateDict().Where(kv => kv.Key != "step"), kv => Assert.Equal(device, kv.Value.Device));
        return p.To(Device.Cpu).ToDoubleArray();
    }

    [Fact]
    public void Steps_OnIlgpuCpu_MatchTheCpu_OnAFullRankMatrix()
    {
        // The preset's device test compares losses on a GPT whose blocks are rank-deficient; there the eigenbasis of the
        // degenerate (null) eigenspace is arbitrary and float32 rounding picks different ones per backend. A full-rank
        // square block has a well-defined basis, so the steps agree closely.
        var cpu = Run(Device.Cpu);
        var ilgpu = Run(Device.IlgpuCpu);
        for (int i = 0; i < cpu.Length; i++) Assert.True(Math.Abs(cpu[i] - ilgpu[i]) < 1e-4, $"[{i}]: CPU {cpu[i]}, IlgpuCpu {ilgpu[i]}");
    }
}

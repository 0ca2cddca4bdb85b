using static Engine.Peft.Tests.TestSupport;
using Engine.Peft.Lycoris;

namespace Engine.Peft.Tests.Lycoris;

/// <summary>Standalone LyCORIS layers in Float64 and an independent matrix rank.</summary>
static class LycorisTestSupport
{
    /// <summary>A layer of type <typeparamref name="T"/> around a seeded Linear [out, in] with adapter "a" active, in Float64.</summary>
    public static T Layer<T>(Func<Linear, T> create, int inF, int outF, LycorisConfig config) where T : LycorisLayer =>
        StandaloneLayer(create, inF, outF, config);

    /// <summary>The rank of a row-major [rows, cols] matrix by Gaussian elimination with partial pivoting (pivots below tol · max |m| count as zero).</summary>
    public static int Rank(double[] m, int rows, int cols, double tol = 1e-9)
    {
        var a = (double[])m.Clone();
        double limit = tol * a.Max(Math.Abs);
        int rank = 0;
        for (int col = 0; col < cols && rank < rows; col++)
        {
            int pivot = Enumerable.Range(rank, rows - rank).MaxBy(r => Math.Abs(a[r * cols + col]));
            if (Math.Abs(a[pivot * cols + col]) <= limit) continue;
            for (int c = 0; c < cols; c++) (a[rank * cols + c], a[pivot * cols + c]) = (a[pivot * cols + c], a[rank * cols + c]);
            for (int r = rank + 1; r < rows; r++)
            {
                double f = a[r * cols + col] / a[rank * cols + col];
                for (int c = col; c < cols; c++) a[r * cols + c] -= f * a[rank * cols + c];
            }
            rank++;
        }
        return rank;
    }

    /// <summary>Sets a parameter's values, outside autograd.</summary>
    public static void Set(Tensor parameter, double[] values)
    {
        using (Autograd.Autograd.NoGrad()) parameter.CopyFrom(Tensor.FromArray(values).Reshape(parameter.Shape).To(parameter.DType));
    }

    /// <summary>
    /// In training with rank dropout, the adapter's part of the output (output minus base) has each output feature
    /// either zero or the full contribution times one common factor; returns (kept features, that factor).
    /// </summary>
    public static (int Kept, double Factor) RankDropoutPattern(LycorisLayer layer, Tensor x)
    {
        Tensor full;
        using (Autograd.Autograd.NoGrad()) full = x.MatMul(layer.DeltaWeight("a").T);
        layer.Train();
        Tensor part;
        using (Autograd.Autograd.NoGrad()) part = layer.Forward(x) - layer.BaseLayer.Forward(x);
        layer.Eval();
        int n = x.Size(0), outF = layer.OutFeatures;
        var f = full.ToDoubleArray();
        var p = part.ToDoubleArray();
        int kept = 0;
        double factor = double.NaN;
        for (int j = 0; j < outF; j++)
        {
            bool dropped = Enumerable.Range(0, n).All(i => Math.Abs(p[i * outF + j]) < 1e-12);
            if (dropped) continue;
            kept++;
            for (int i = 0; i < n; i++)
            {
                double ratio = p[i * outF + j] / f[i * outF + j];
                if (double.IsNaN(factor)) factor = ratio;
                Xunit.Assert.True(Math.Abs(ratio - factor) < 1e-9, $"feature {j}: factor {ratio} differs from {factor}");
            }
        }
        return (kept, factor);
    }
}

using static Engine.Peft.Tests.TestSupport;
namespace Engine.Peft.Tests.Subspace;

/// <summary>Standalone subspace-family layers in Float64 and plain-array matrix helpers for independent references.</summary>
static class SubspaceTestSupport
{
    /// <summary>A layer around a seeded Linear [out, in] with adapter "a" active, in Float64 and evaluation mode.</summary>
    public static T Layer<T>(Func<Linear, T> create, int inF, int outF, PeftConfig config) where T : AdapterLayer =>
        StandaloneLayer(create, inF, outF, config);

    /// <summary>Row-major [rows, cols] matrix product of a [rows, k] and b [k, cols] by loops.</summary>
    public static double[] Mul(double[] a, double[] b, int rows, int k, int cols)
    {
        var c = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += a[i * k + t] * b[t * cols + j];
                c[i * cols + j] = s;
            }
        return c;
    }

    /// <summary>The transpose of a row-major [rows, cols] matrix.</summary>
    public static double[] Transpose(double[] m, int rows, int cols)
    {
        var t = new double[m.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
        return t;
    }

    /// <summary>The identity [n, n], row-major.</summary>
    public static double[] Identity(int n)
    {
        var e = new double[n * n];
        for (int i = 0; i < n; i++) e[i * n + i] = 1;
        return e;
    }

    /// <summary>Elementwise a + f b.</summary>
    public static double[] Add(double[] a, double[] b, double f = 1) => a.Select((v, i) => v + f * b[i]).ToArray();

    /// <summary>Sets a parameter's values, outside autograd.</summary>
    public static void Set(Tensor parameter, double[] values)
    {
        using (Autograd.Autograd.NoGrad()) parameter.CopyFrom(Tensor.FromArray(values).Reshape(parameter.Shape).To(parameter.DType));
    }

    /// <summary>The inverse of a row-major [n, n] matrix by Gauss-Jordan elimination with partial pivoting.</summary>
    public static double[] Inverse(double[] m, int n)
    {
        var a = (double[])m.Clone();
        var inv = Identity(n);
        for (int col = 0; col < n; col++)
        {
            int pivot = Enumerable.Range(col, n - col).MaxBy(r => Math.Abs(a[r * n + col]));
            for (int c = 0; c < n; c++)
            {
                (a[col * n + c], a[pivot * n + c]) = (a[pivot * n + c], a[col * n + c]);
                (inv[col * n + c], inv[pivot * n + c]) = (inv[pivot * n + c], inv[col * n + c]);
            }
            double d = a[col * n + col];
            for (int c = 0; c < n; c++) { a[col * n + c] /= d; inv[col * n + c] /= d; }
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = a[r * n + col];
                for (int c = 0; c < n; c++) { a[r * n + c] -= f * a[col * n + c]; inv[r * n + c] -= f * inv[col * n + c]; }
            }
        }
        return inv;
    }
}

namespace Engine.Nn.Tests.Ssm;

/// <summary>Plain-loop companion systems in double precision: the references the SpaceTime layers are tested against.</summary>
static class CompanionReference
{
    // A = S + a e_dᵀ: A[i, j] = [i == j + 1] + a_i [j == d - 1].
    public static double[,] Matrix(double[] a)
    {
        int d = a.Length;
        var m = new double[d, d];
        for (int i = 1; i < d; i++) m[i, i - 1] = 1;
        for (int i = 0; i < d; i++) m[i, d - 1] += a[i];
        return m;
    }

    public static double[] Apply(double[,] m, double[] x)
    {
        int d = x.Length;
        var y = new double[d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) y[i] += m[i, j] * x[j];
        return y;
    }

    public static double Dot(double[] u, double[] v) => u.Zip(v, (p, q) => p * q).Sum();

    // K_l = cᵀ A^l b by applying A l times.
    public static double[] Kernel(double[] a, double[] b, double[] c, int length)
    {
        var m = Matrix(a);
        var x = (double[])b.Clone();
        var k = new double[length];
        for (int l = 0; l < length; l++)
        {
            k[l] = Dot(c, x);
            x = Apply(m, x);
        }
        return k;
    }

    public static double[] Row(double[] flat, int row, int width) => flat.Skip(row * width).Take(width).ToArray();

    public static double[] L1Normalized(double[] a)
    {
        double norm = a.Sum(Math.Abs);
        return norm > 1e-4 ? a.Select(v => v / norm).ToArray() : a;
    }
}

using System.Numerics;
using Engine.Backends.Cpu;

namespace Engine.Tests.Gemm;

/// <summary>How an operand sits in memory: plain, transposed (column-major), or a strided view inside a bigger buffer.</summary>
public enum Layout
{
    /// <summary>Row-major, rows exactly as long as the matrix is wide.</summary>
    RowMajor,
    /// <summary>Column-major: the transposed-operand case, handled by strides alone.</summary>
    Transposed,
    /// <summary>Row-major view into a wider buffer (row stride larger than the width), with an offset.</summary>
    RowView,
    /// <summary>Every other column of a wider buffer: neither stride is 1.</summary>
    Strided,
    /// <summary>Every row the same values (row stride 0, an expanded row): no kernel may take the 0 for a packed panel.</summary>
    RowBroadcast,
    /// <summary>Every column the same values (column stride 0, unit row stride: an expanded column).</summary>
    ColumnBroadcast,
}

/// <summary>
/// One GEMM problem with its operands laid out as requested, plus the naive triple-loop oracle in double.
/// </summary>
public sealed class GemmCase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int M, N, K;
    public T Alpha, Beta;
    public T[] A = [], B = [], C = [];
    public long OffsetA, RsA, CsA, OffsetB, RsB, CsB, OffsetC, Ldc;

    public static GemmCase<T> Create(int m, int n, int k, Layout layoutA, Layout layoutB, double alpha, double beta, int seed, bool nanInC = false)
    {
        var rng = new Random(seed);
        var g = new GemmCase<T> { M = m, N = n, K = k, Alpha = T.CreateChecked(alpha), Beta = T.CreateChecked(beta) };
        (g.A, g.OffsetA, g.RsA, g.CsA) = Fill(m, k, layoutA, rng);
        (g.B, g.OffsetB, g.RsB, g.CsB) = Fill(k, n, layoutB, rng);
        // C is always row-major, here with a padded row and an offset so that stores outside the tile would show.
        g.Ldc = n + 3;
        g.OffsetC = 2;
        g.C = new T[g.OffsetC + Math.Max(0, m - 1) * g.Ldc + n + 5];
        for (int i = 0; i < g.C.Length; i++)
            g.C[i] = nanInC ? T.NaN : T.CreateChecked(rng.NextDouble() * 2 - 1);
        return g;
    }

    private static (T[] data, long offset, long rs, long cs) Fill(int rows, int cols, Layout layout, Random rng)
    {
        long offset, rs, cs, length;
        switch (layout)
        {
            case Layout.RowMajor: offset = 0; rs = cols; cs = 1; break;
            case Layout.Transposed: offset = 0; rs = 1; cs = rows; break;
            case Layout.RowView: offset = 5; rs = cols + 7; cs = 1; break;
            case Layout.RowBroadcast: offset = 1; rs = 0; cs = 1; break;
            case Layout.ColumnBroadcast: offset = 1; rs = 1; cs = 0; break;
            default: offset = 1; rs = 2 * cols + 3; cs = 2; break;
        }
        length = offset + Math.Max(0, rows - 1) * rs + Math.Max(0, cols - 1) * cs + 1;
        var data = new T[Math.Max(1, length)];
        // Garbage (NaN) between the elements, so any read outside the view poisons the result.
        Array.Fill(data, T.NaN);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                data[offset + i * rs + j * cs] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        return (data, offset, rs, cs);
    }

    /// <summary>Runs the engine's GEMM on a copy of C and returns that copy.</summary>
    internal unsafe T[] Run(GemmPath path, bool allowSmallM, int threads)
    {
        var c = (T[])C.Clone();
        fixed (T* a = A, b = B, pc = c)
            PackedGemm.Gemm(path, allowSmallM, M, N, K, Alpha, a + OffsetA, RsA, CsA, b + OffsetB, RsB, CsB, Beta, pc + OffsetC, Ldc, threads);
        return c;
    }

    /// <summary>Runs the public entry point (best path, small-M allowed).</summary>
    public unsafe T[] RunPublic(int threads)
    {
        var c = (T[])C.Clone();
        fixed (T* a = A, b = B, pc = c)
        {
            if (typeof(T) == typeof(float))
                PackedGemm.Gemm(M, N, K, float.CreateChecked(Alpha), (float*)(a + OffsetA), RsA, CsA, (float*)(b + OffsetB), RsB, CsB,
                    float.CreateChecked(Beta), (float*)(pc + OffsetC), Ldc, threads);
            else
                PackedGemm.Gemm(M, N, K, double.CreateChecked(Alpha), (double*)(a + OffsetA), RsA, CsA, (double*)(b + OffsetB), RsB, CsB,
                    double.CreateChecked(Beta), (double*)(pc + OffsetC), Ldc, threads);
        }
        return c;
    }

    /// <summary>
    /// Checks <paramref name="actual"/> against the naive triple loop in double, element by element, with a bound
    /// scaled by sum |A(i,p) B(p,j)| (the forward error bound of a dot product), and that nothing outside C's tile changed.
    /// </summary>
    public void AssertMatchesNaive(T[] actual)
    {
        double eps = Unit();
        double alpha = double.CreateChecked(Alpha), beta = double.CreateChecked(Beta);
        var inside = new bool[C.Length];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                long at = OffsetC + i * Ldc + j;
                inside[at] = true;
                double sum = 0, magnitude = 0;
                for (int p = 0; p < K; p++)
                {
                    double x = double.CreateChecked(A[OffsetA + i * RsA + p * CsA]) * double.CreateChecked(B[OffsetB + p * RsB + j * CsB]);
                    sum += x;
                    magnitude += Math.Abs(x);
                }
                double old = double.CreateChecked(C[at]);
                double expected = beta == 0 ? alpha * sum : alpha * sum + beta * old;
                double bound = eps * (K + 4) * (Math.Abs(alpha) * magnitude + (beta == 0 ? 0 : Math.Abs(beta * old))) + 1e-30;
                double got = double.CreateChecked(actual[at]);
                if (!(Math.Abs(got - expected) <= bound))
                    Xunit.Assert.Fail($"C[{i},{j}] = {got}, naive {expected} (bound {bound:g3}); m={M} n={N} k={K} alpha={alpha} beta={beta}");
            }
        for (int i = 0; i < C.Length; i++)
            if (!inside[i])
                Xunit.Assert.True(C[i].Equals(actual[i]) || (T.IsNaN(C[i]) && T.IsNaN(actual[i])), $"element {i} outside C's tile was written");
    }

    private static double Unit() => typeof(T) == typeof(float) ? Math.Pow(2, -23) : Math.Pow(2, -52);
}

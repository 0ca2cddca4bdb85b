using Xunit;

namespace Engine.Tests;

/// <summary>How an input tensor is laid out in memory; the logical values are the same for every layout.</summary>
public enum Layout { Contiguous, Transposed, Stepped, Expanded }

/// <summary>An engine tensor paired with its values as the oracle sees them (computed without the engine).</summary>
public readonly record struct Sample(Tensor T, Ref R);

/// <summary>Random inputs for oracle tests: shapes with size-1 and size-0 dims, every dtype, strided layouts.</summary>
public static class Samples
{
    public static readonly DType[] Floats = [DType.Float32, DType.Float64];
    public static readonly Layout[] Layouts = [Layout.Contiguous, Layout.Transposed, Layout.Stepped, Layout.Expanded];

    /// <summary>Shapes every op should handle: scalar, vectors, matrices with 1 and 0 dims, rank 3 and 4.</summary>
    public static readonly int[][] Shapes =
    [
        [], [1], [5], [0], [3, 4], [1, 7], [4, 1], [0, 3], [2, 3, 4], [3, 1, 5], [2, 0, 3], [2, 3, 2, 3],
    ];

    /// <summary>More than CpuThreading.ParallelThreshold elements, so kernels take their parallel paths.</summary>
    public static readonly int[] Large = [150, 260];

    public static double[] Values(System.Random rng, int n, DType dtype, double low = -2, double high = 2)
    {
        var v = new double[n];
        for (int i = 0; i < n; i++)
            v[i] = dtype switch
            {
                DType.Float32 => (float)(low + (high - low) * rng.NextDouble()),
                DType.Float64 => low + (high - low) * rng.NextDouble(),
                DType.Bool => rng.Next(2),
                _ => rng.Next((int)Math.Floor(low) * 5, (int)Math.Ceiling(high) * 5 + 1),
            };
        return v;
    }

    /// <summary>A contiguous tensor of the given values, converted by the test (not the engine) to the dtype's CLR type.</summary>
    public static Tensor FromDoubles(double[] v, int[] shape, DType dtype) => dtype switch
    {
        DType.Float32 => Tensor.FromArray(v.Select(x => (float)x).ToArray(), shape),
        DType.Float64 => Tensor.FromArray((double[])v.Clone(), shape),
        DType.Int32 => Tensor.FromArray(v.Select(x => (int)x).ToArray(), shape),
        DType.Int64 => Tensor.FromArray(v.Select(x => (long)x).ToArray(), shape),
        DType.Bool => Tensor.FromArray(v.Select(x => x != 0).ToArray(), shape),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>A random tensor of <paramref name="shape"/> laid out as <paramref name="layout"/>.</summary>
    public static Sample Make(System.Random rng, int[] shape, DType dtype, Layout layout = Layout.Contiguous, double low = -2, double high = 2)
    {
        int rank = shape.Length;
        switch (layout)
        {
            case Layout.Transposed when rank >= 2:
            {
                // Stored with dimensions reversed, viewed back through a permutation.
                var rev = shape.Reverse().ToArray();
                var v = Values(rng, Ref.Count(rev), dtype, low, high);
                var order = Enumerable.Range(0, rank).Reverse().ToArray();
                return new Sample(FromDoubles(v, rev, dtype).Permute(order), new Ref(rev, v).Permute(order));
            }
            case Layout.Stepped when rank >= 1:
            {
                // Every dimension stored at twice its size plus one, then sliced 1::2.
                var big = shape.Select(d => 2 * d + 1).ToArray();
                var v = Values(rng, Ref.Count(big), dtype, low, high);
                var t = FromDoubles(v, big, dtype);
                var r = new Ref(big, v);
                for (int d = 0; d < rank; d++)
                {
                    t = t.Slice(d, 1, null, 2);
                    r = r.Slice(d, 1, big[d], 2);
                }
                return new Sample(t, r);
            }
            case Layout.Expanded when rank >= 1:
            {
                // Every other dimension stored with size 1 and broadcast (stride 0).
                var small = shape.Select((d, i) => i % 2 == 0 && d > 0 ? 1 : d).ToArray();
                var v = Values(rng, Ref.Count(small), dtype, low, high);
                return new Sample(FromDoubles(v, small, dtype).Expand(shape), new Ref(small, v).BroadcastTo(shape));
            }
            default:
            {
                var v = Values(rng, Ref.Count(shape), dtype, low, high);
                return new Sample(FromDoubles(v, shape, dtype), new Ref(shape, v));
            }
        }
    }

    public static string Show(int[] shape) => "[" + string.Join(",", shape) + "]";
}

/// <summary>Assertions comparing engine tensors with the oracle.</summary>
public static class Check
{
    /// <summary>Relative tolerances: Float64 ~1e-12, Float32 ~1e-5; transcendental functions looser.</summary>
    public static double Rtol(DType dtype, bool transcendental = false) => dtype switch
    {
        DType.Float64 => transcendental ? 1e-10 : 1e-12,
        DType.Float32 => transcendental ? 1e-4 : 1e-5,
        _ => 0,
    };

    public static double Atol(DType dtype, bool transcendental = false) => dtype switch
    {
        DType.Float64 => transcendental ? 1e-12 : 1e-13,
        DType.Float32 => transcendental ? 1e-5 : 1e-6,
        _ => 0,
    };

    /// <summary>Same shape and, elementwise, |actual - expected| &lt;= atol + rtol |expected| (NaN matches NaN).</summary>
    public static void Close(Ref expected, Tensor actual, double rtol, double atol, string? what = null)
    {
        Assert.True(expected.Shape.SequenceEqual(actual.Shape),
            $"{what}: shape {Samples.Show(actual.Shape)}, expected {Samples.Show(expected.Shape)}");
        var got = actual.ToDoubleArray();
        for (int i = 0; i < got.Length; i++)
        {
            double e = expected.Data[i], g = got[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(g)
                : double.IsInfinity(e) ? e == g
                : Math.Abs(g - e) <= atol + rtol * Math.Abs(e);
            Assert.True(ok, $"{what}: element {i} {Samples.Show(Ref.Unflatten(expected.Shape, i))} is {g:R}, expected {e:R}");
        }
    }

    /// <summary>Close with the default tolerances of the result's dtype.</summary>
    public static void Close(Ref expected, Tensor actual, string? what = null, bool transcendental = false)
        => Close(expected, actual, Rtol(actual.DType, transcendental), Atol(actual.DType, transcendental), what);

    /// <summary>
    /// Close for results that accumulate many terms: the allowed error grows with <paramref name="scale"/>
    /// (for a sum, the sum of the absolute values of its terms), as floating-point summation error does.
    /// </summary>
    public static void Scaled(Ref expected, Ref scale, Tensor actual, string? what = null, double factor = 1)
    {
        double rtol = Rtol(actual.DType) * factor, atol = Atol(actual.DType);
        var tol = new Ref(expected.Shape, expected.Data.Select((e, i) => atol + rtol * (Math.Abs(e) + scale.Data[i])).ToArray());
        Assert.True(expected.Shape.SequenceEqual(actual.Shape),
            $"{what}: shape {Samples.Show(actual.Shape)}, expected {Samples.Show(expected.Shape)}");
        var got = actual.ToDoubleArray();
        for (int i = 0; i < got.Length; i++)
        {
            double e = expected.Data[i], g = got[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(g) : double.IsInfinity(e) ? e == g : Math.Abs(g - e) <= tol.Data[i];
            Assert.True(ok, $"{what}: element {i} is {g:R}, expected {e:R} (tolerance {tol.Data[i]:G3})");
        }
    }

    /// <summary>Exactly equal values and shape (for integer, Bool and movement results).</summary>
    public static void Exact(Ref expected, Tensor actual, string? what = null) => Close(expected, actual, 0, 0, what);
}

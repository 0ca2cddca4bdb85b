using Engine.Backends;
using Engine.Backends.Cpu;

namespace Engine;

public sealed partial class Tensor
{
    /// <summary>A tensor of zeros. <c>Tensor.Zeros(2, 3)</c></summary>
    public static Tensor Zeros(params int[] shape) => Zeros(shape, DType.Float32);

    /// <summary>A tensor of zeros of the given dtype, on <paramref name="device"/> (default CPU).</summary>
    public static Tensor Zeros(int[] shape, DType dtype, Device? device = null) => Empty(shape, dtype, device?.Backend, zeroed: true, op: "Zeros");

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(params int[] shape) => Full(shape, 1.0, DType.Float32);

    /// <summary>A tensor of ones of the given dtype, on <paramref name="device"/> (default CPU).</summary>
    public static Tensor Ones(int[] shape, DType dtype, Device? device = null) => Full(shape, 1.0, dtype, device);

    /// <summary>A tensor filled with <paramref name="value"/>, on <paramref name="device"/> (default CPU).</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        RequireRepresentable("Full", value, dtype);
        var t = Empty(shape, dtype, device?.Backend, op: "Full");
        t.Backend.Fill(t.Strided, value);
        return t;
    }

    /// <summary>Zeros with this tensor's shape and dtype.</summary>
    public Tensor ZerosLike() => Empty(_shape, DType, Backend, zeroed: true);

    /// <summary>Ones with this tensor's shape and dtype.</summary>
    public Tensor OnesLike() => FullLike(1.0);

    /// <summary>A constant with this tensor's shape and dtype.</summary>
    public Tensor FullLike(double value)
    {
        RequireRepresentable("FullLike", value, DType);
        var t = Empty(_shape, DType, Backend);
        Backend.Fill(t.Strided, value);
        return t;
    }

    /// <summary>A 0-dimensional tensor holding one value, on <paramref name="device"/> (default CPU).</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) => Full([], value, dtype, device);

    /// <summary>Values start, start+step, ... below end (torch.arange). Integer arguments give Int64 unless a dtype is given.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType? dtype = null, Device? device = null)
    {
        Require(step != 0 && double.IsFinite(start) && double.IsFinite(end) && double.IsFinite(step),
            $"Arange: start {start}, end {end} and step {step} must be finite, with a non-zero step");
        double count = Math.Ceiling((end - start) / step);
        Require(count <= Array.MaxLength,
            $"Arange: start {start}, end {end} and step {step} give {count} values, more than a tensor holds ({Array.MaxLength})");
        long n = count < 0 ? 0 : (long)count;
        TensorLimits.CheckAllocation("Arange", [(int)n], DType.Float64, n); // the values are staged as doubles
        bool integral = start == Math.Floor(start) && step == Math.Floor(step) && end == Math.Floor(end);
        var dt = dtype ?? (integral ? DType.Int64 : DType.Float32);
        var values = new double[n];
        for (long i = 0; i < n; i++) values[i] = start + i * step;
        var result = FromArray(values, [(int)n]).To(dt);
        return device is { } d ? result.To(d) : result;
    }

    /// <summary>0, 1, ..., end-1 as Int64, on <paramref name="device"/> (default CPU).</summary>
    public static Tensor Arange(long end, Device? device = null) => Arange(0, end, 1, DType.Int64, device);

    /// <summary><paramref name="steps"/> evenly spaced values from start to end inclusive (torch.linspace).</summary>
    public static Tensor Linspace(double start, double end, int steps, DType dtype = DType.Float32)
    {
        Require(steps >= 0, $"Linspace: steps must be non-negative, got {steps}");
        Require(steps <= Array.MaxLength, $"Linspace: {steps} steps are more than a tensor holds ({Array.MaxLength})");
        TensorLimits.CheckAllocation("Linspace", [steps], DType.Float64, steps); // the values are staged as doubles
        var values = new double[steps];
        double step = steps > 1 ? (end - start) / (steps - 1) : 0;
        // Fill from both ends as PyTorch does, so the last value is exactly `end`.
        for (int i = 0; i < steps; i++) values[i] = i < steps / 2 ? start + i * step : end - (steps - 1 - i) * step;
        if (steps == 1) values[0] = start; // torch.linspace(a, b, 1) is [a]
        return FromArray(values, [steps]).To(dtype);
    }

    /// <summary>An n x m matrix with ones on the diagonal.</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32)
    {
        int cols = m ?? n;
        Require(n >= 0 && cols >= 0, $"Eye: sizes must be non-negative, got {n} x {cols}");
        TensorLimits.CheckAllocation("Eye", [n, cols], DType.Float64, (long)n * cols);
        var values = new double[(long)n * cols];
        for (int i = 0; i < Math.Min(n, cols); i++) values[(long)i * cols + i] = 1;
        return FromArray(values, [n, cols]).To(dtype);
    }

    /// <summary>A tensor holding a copy of <paramref name="data"/> with the given shape (default: 1-D).</summary>
    public static Tensor FromArray<T>(T[] data, int[]? shape = null) where T : unmanaged
        => FromSpan<T>(data, shape ?? [data.Length]);

    /// <summary>A tensor holding a copy of <paramref name="data"/> with the given shape.</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> data, int[] shape) where T : unmanaged
    {
        long numel = Shapes.Validate("FromArray", shape);
        Require(numel == data.Length, $"FromArray: {data.Length} values cannot fill shape {Shapes.Format(shape)} ({numel} elements)");
        return new Tensor(CpuBackend.Instance.FromHost(data), (int[])shape.Clone());
    }

    /// <summary>
    /// A tensor from a rectangular array of any rank, e.g. <c>Tensor.FromArray(new float[,] { { 1, 2 }, { 3, 4 } })</c>.
    /// The shape is the array's; the dtype follows its element type.
    /// </summary>
    public static Tensor FromArray(Array data)
    {
        var shape = new int[data.Rank];
        for (int d = 0; d < data.Rank; d++) shape[d] = data.GetLength(d);
        return data switch
        {
            float[] or float[,] or float[,,] or float[,,,] => FromMulti<float>(data, shape),
            double[] or double[,] or double[,,] or double[,,,] => FromMulti<double>(data, shape),
            int[] or int[,] or int[,,] or int[,,,] => FromMulti<int>(data, shape),
            long[] or long[,] or long[,,] or long[,,,] => FromMulti<long>(data, shape),
            bool[] or bool[,] or bool[,,] or bool[,,,] => FromMulti<bool>(data, shape),
            _ => throw new ArgumentException($"FromArray: unsupported array type {data.GetType().Name}; use float, double, int, long or bool arrays"),
        };
    }

    static Tensor FromMulti<T>(Array data, int[] shape) where T : unmanaged
    {
        var flat = new T[data.Length];
        int i = 0;
        foreach (T v in data) flat[i++] = v; // multi-dimensional arrays enumerate in row-major order
        return FromSpan<T>(flat, shape);
    }

    /// <summary>Uniform samples on [low, high) (torch.rand).</summary>
    public static Tensor Rand(int[] shape, double low = 0, double high = 1, DType dtype = DType.Float32, Generator? generator = null, Device? device = null)
        => Sample(RandomKind.Uniform, shape, low, high, dtype, generator, "Rand", device);

    /// <summary>Normal samples with the given mean and standard deviation (torch.randn).</summary>
    public static Tensor Randn(int[] shape, double mean = 0, double std = 1, DType dtype = DType.Float32, Generator? generator = null, Device? device = null)
        => Sample(RandomKind.Normal, shape, mean, std, dtype, generator, "Randn", device);

    /// <summary>Integers uniform on [low, high) (torch.randint); Int64 by default.</summary>
    public static Tensor Randint(long low, long high, int[] shape, DType dtype = DType.Int64, Generator? generator = null, Device? device = null)
    {
        Require(high > low, $"Randint: high ({high}) must be greater than low ({low})");
        Require(!dtype.IsFloating() && dtype != DType.Bool, $"Randint: needs an integer dtype, got {dtype.Name()}");
        return Sample(RandomKind.Integer, shape, low, high, dtype, generator, "Randint", device);
    }

    /// <summary>Each element 1 with probability p, else 0 (torch.bernoulli with a scalar probability).</summary>
    public static Tensor Bernoulli(int[] shape, double p, DType dtype = DType.Float32, Generator? generator = null, Device? device = null)
    {
        Require(p >= 0 && p <= 1, $"Bernoulli: probability must be in [0, 1], got {p}");
        return Sample(RandomKind.Bernoulli, shape, p, 0, dtype, generator, "Bernoulli", device);
    }

    // The same counters are drawn whatever the device, so a seed gives the same numbers on every backend.
    static Tensor Sample(RandomKind kind, int[] shape, double a, double b, DType dtype, Generator? generator, string op, Device? device)
    {
        Require(kind is RandomKind.Integer or RandomKind.Bernoulli || dtype.IsFloating(), $"{op}: needs a floating dtype, got {dtype.Name()}");
        var g = generator ?? Generator.Default;
        var t = Empty(shape, dtype, device?.Backend, op: op);
        ulong start = g.Take(t.Numel);
        t.Backend.Random(kind, g.Seed, start, t.Strided, a, b);
        return t;
    }

    // A fill value must survive conversion to the dtype: NaN or 1e300 in an Int32 tensor would silently become garbage.
    static void RequireRepresentable(string op, double value, DType dtype)
    {
        var (low, high) = dtype switch
        {
            DType.Int32 => ((double)int.MinValue, (double)int.MaxValue),
            DType.Int64 => (-9.2233720368547758e18, 9.2233720368547758e18),
            _ => (double.NegativeInfinity, double.PositiveInfinity),
        };
        if (dtype.IsFloating() || dtype == DType.Bool) return;
        Require(!double.IsNaN(value) && value >= low && value < high + 1,
            $"{op}: value {value} cannot be represented in {dtype.Name()} (valid: integers in [{low}, {high}])");
    }

    /// <summary>Restarts the default generator (torch.manual_seed).</summary>
    public static void ManualSeed(ulong seed) => Generator.Default.ManualSeed(seed);
}

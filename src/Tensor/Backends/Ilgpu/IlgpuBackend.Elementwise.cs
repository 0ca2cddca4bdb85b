using ILGPU;

namespace Engine.Backends.Ilgpu;

public sealed partial class IlgpuBackend
{
    // Bool And/Or codes for the integer path of the binary kernel, beyond BinaryOp's own values.
    const int BoolAnd = 100, BoolOr = 101;

    public void Fill(StridedView destination, double value)
    {
        if (destination.Numel == 0) return;
        switch (destination.Storage.DType)
        {
            case DType.Float32: FillTyped(destination, (float)value); break;
            case DType.Float64: FillTyped(destination, value); break;
            case DType.Int32: FillTyped(destination, checked((int)value)); break;
            case DType.Int64: FillTyped(destination, checked((long)value)); break;
            case DType.Bool: FillTyped(destination, value != 0 ? (byte)1 : (byte)0); break;
        }
    }

    void FillTyped<T>(StridedView y, T value) where T : unmanaged => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, y);
        Action<Index1D, Dims8, ArrayView<T>, View8, T> k = FillKernel<T>;
        Load(k)(Extent(y.Numel), n, Data<T>(y), v[0], value);
    });

    static void FillKernel<T>(Index1D i, Dims8 n, ArrayView<T> y, View8 yv, T value) where T : unmanaged
        => y[yv.At(i, n)] = value;

    public void Copy(StridedView source, StridedView destination)
    {
        if (source.Numel == 0) return;
        var (from, to) = (source.Storage.DType, destination.Storage.DType);
        if (from == to)
        {
            switch (from)
            {
                case DType.Float32: CopyTyped<float>(source, destination); break;
                case DType.Float64: CopyTyped<double>(source, destination); break;
                case DType.Int32: CopyTyped<int>(source, destination); break;
                case DType.Int64: CopyTyped<long>(source, destination); break;
                case DType.Bool: CopyTyped<byte>(source, destination); break;
            }
            return;
        }
        switch (from)
        {
            case DType.Float32: ConvertFrom<float, F32>(source, destination); break;
            case DType.Float64: ConvertFrom<double, F64>(source, destination); break;
            case DType.Int32: ConvertFrom<int, I32>(source, destination); break;
            case DType.Int64: ConvertFrom<long, I64>(source, destination); break;
            case DType.Bool: ConvertFrom<byte, B8>(source, destination); break;
        }
    }

    void CopyTyped<T>(StridedView x, StridedView y) where T : unmanaged => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, x, y);
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<T>, View8> k = CopyKernel<T>;
        Load(k)(Extent(y.Numel), n, Data<T>(x), v[0], Data<T>(y), v[1]);
    });

    static void CopyKernel<T>(Index1D i, Dims8 n, ArrayView<T> x, View8 xv, ArrayView<T> y, View8 yv) where T : unmanaged
        => y[yv.At(i, n)] = x[xv.At(i, n)];

    void ConvertFrom<TS, ES>(StridedView x, StridedView y) where TS : unmanaged where ES : struct, IElement<TS>
    {
        switch (y.Storage.DType)
        {
            case DType.Float32: ConvertTyped<TS, ES, float, F32>(x, y); break;
            case DType.Float64: ConvertTyped<TS, ES, double, F64>(x, y); break;
            case DType.Int32: ConvertTyped<TS, ES, int, I32>(x, y); break;
            case DType.Int64: ConvertTyped<TS, ES, long, I64>(x, y); break;
            case DType.Bool: ConvertTyped<TS, ES, byte, B8>(x, y); break;
        }
    }

    void ConvertTyped<TS, ES, TD, ED>(StridedView x, StridedView y)
        where TS : unmanaged where ES : struct, IElement<TS> where TD : unmanaged where ED : struct, IElement<TD> => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, x, y);
        Action<Index1D, Dims8, ArrayView<TS>, View8, ArrayView<TD>, View8> k = ConvertKernel<TS, ES, TD, ED>;
        Load(k)(Extent(y.Numel), n, Data<TS>(x), v[0], Data<TD>(y), v[1]);
    });

    // Integers convert through long (exact for Int64) and saturate; floating values through double, truncating
    // toward zero into integers as the CPU backend (and PyTorch) do.
    static void ConvertKernel<TS, ES, TD, ED>(Index1D i, Dims8 n, ArrayView<TS> x, View8 xv, ArrayView<TD> y, View8 yv)
        where TS : unmanaged where ES : struct, IElement<TS> where TD : unmanaged where ED : struct, IElement<TD>
    {
        ES es = default;
        ED ed = default;
        TS value = x[xv.At(i, n)];
        TD r;
        if (es.IsInteger)
        {
            long l = es.ToLong(value);
            if (ed.IsInteger) l = l < ed.Min ? ed.Min : l > ed.Max ? ed.Max : l;
            r = ed.FromLong(l);
        }
        else r = ed.FromDouble(es.ToDouble(value));
        y[yv.At(i, n)] = r;
    }

    public void Unary(UnaryOp op, StridedView x, StridedView y, double p0 = 0, double p1 = 0)
    {
        var dtype = x.Storage.DType;
        bool defined = dtype switch
        {
            DType.Float32 or DType.Float64 => op != UnaryOp.LogicalNot,
            DType.Int32 or DType.Int64 => op is UnaryOp.Neg or UnaryOp.Abs or UnaryOp.Sign or UnaryOp.Relu or UnaryOp.Square or UnaryOp.Clamp,
            _ => op == UnaryOp.LogicalNot,
        };
        if (!defined)
            throw new NotSupportedException(dtype.IsFloating() || dtype.IsInteger()
                ? $"{op}: not defined for {(dtype.IsFloating() ? "floating" : "integer")} tensors"
                : $"{op}: not defined for {dtype.Name()} tensors");
        if (x.Numel == 0) return;
        switch (dtype)
        {
            case DType.Float32: UnaryTyped<float, F32>(op, x, y, p0, p1); break;
            case DType.Float64: UnaryTyped<double, F64>(op, x, y, p0, p1); break;
            case DType.Int32: UnaryTyped<int, I32>(op, x, y, p0, p1); break;
            case DType.Int64: UnaryTyped<long, I64>(op, x, y, p0, p1); break;
            case DType.Bool: UnaryTyped<byte, B8>(op, x, y, p0, p1); break;
        }
    }

    void UnaryTyped<T, TE>(UnaryOp op, StridedView x, StridedView y, double p0, double p1) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, x, y);
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<T>, View8, int, double, double> k = UnaryKernel<T, TE>;
        Load(k)(Extent(y.Numel), n, Data<T>(x), v[0], Data<T>(y), v[1], (int)op, p0, p1);
    });

    static void UnaryKernel<T, TE>(Index1D i, Dims8 n, ArrayView<T> x, View8 xv, ArrayView<T> y, View8 yv, int op, double p0, double p1)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        T v = x[xv.At(i, n)];
        T r;
        if (op == (int)UnaryOp.LogicalNot) r = e.FromLong(e.ToLong(v) == 0 ? 1 : 0);
        else if (e.IsInteger) r = e.FromLong(UnaryInteger(op, e.ToLong(v), p0, p1));
        else r = e.FromDouble(UnaryFloat(op, e.ToDouble(v), p0, p1));
        y[yv.At(i, n)] = r;
    }

    static long UnaryInteger(int op, long x, double p0, double p1)
    {
        switch ((UnaryOp)op)
        {
            case UnaryOp.Neg: return -x;
            case UnaryOp.Abs: return x < 0 ? -x : x;
            case UnaryOp.Sign: return x > 0 ? 1 : x < 0 ? -1 : 0;
            case UnaryOp.Relu: return x > 0 ? x : 0;
            case UnaryOp.Square: return x * x;
            default:
                long lo = SaturatingLong(p0), hi = SaturatingLong(p1);
                long c = x < lo ? lo : x;
                return c > hi ? hi : c;
        }
    }

    static long SaturatingLong(double v) => double.IsNaN(v) ? 0 : v >= 9.2233720368547758E18 ? long.MaxValue : v <= -9.2233720368547758E18 ? long.MinValue : (long)v;

    // Constants: sqrt(2/pi), 1/sqrt(2), 1/sqrt(2 pi); the GELU forms follow Hendrycks & Gimpel 2016, section 2.
    const double GeluC = 0.7978845608028654, GeluK = 0.044715, InvSqrt2 = 0.7071067811865476, InvSqrt2Pi = 0.3989422804014327;

    static double UnaryFloat(int op, double x, double p0, double p1)
    {
        switch ((UnaryOp)op)
        {
            case UnaryOp.Neg: return -x;
            case UnaryOp.Abs: return Math.Abs(x);
            case UnaryOp.Sign: return double.IsNaN(x) ? x : x > 0 ? 1 : x < 0 ? -1 : 0;
            case UnaryOp.Exp: return Math.Exp(x);
            case UnaryOp.Log: return Math.Log(x);
            case UnaryOp.Log1p: return Math.Log(1 + x);
            case UnaryOp.Sqrt: return Math.Sqrt(x);
            case UnaryOp.Rsqrt: return 1 / Math.Sqrt(x);
            case UnaryOp.Sin: return Math.Sin(x);
            case UnaryOp.Cos: return Math.Cos(x);
            case UnaryOp.Tanh: return Math.Tanh(x);
            case UnaryOp.Sigmoid: return 1 / (1 + Math.Exp(-x));
            case UnaryOp.Relu: return double.IsNaN(x) ? x : x > 0 ? x : 0;
            case UnaryOp.Square: return x * x;
            case UnaryOp.Reciprocal: return 1 / x;
            case UnaryOp.Clamp:
                if (double.IsNaN(x)) return x;
                double c = x < p0 ? p0 : x;
                return c > p1 ? p1 : c;
            case UnaryOp.Silu: return x / (1 + Math.Exp(-x));
            case UnaryOp.GeluTanh: return 0.5 * x * (1 + Math.Tanh(GeluC * (x + GeluK * x * x * x)));
            case UnaryOp.GeluErf: return 0.5 * x * (1 + Erf(x * InvSqrt2));
            case UnaryOp.GeluTanhDerivative:
            {
                // (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 k x^2), t = tanh(c (x + k x^3))
                double t = Math.Tanh(GeluC * (x + GeluK * x * x * x));
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GeluC * (1 + 3 * GeluK * x * x);
            }
            case UnaryOp.GeluErfDerivative: return 0.5 * (1 + Erf(x * InvSqrt2)) + x * Math.Exp(-0.5 * x * x) * InvSqrt2Pi;
            case UnaryOp.SiluDerivative:
            {
                double s = 1 / (1 + Math.Exp(-x));
                return s * (1 + x * (1 - s));
            }
            case UnaryOp.Erf: return Erf(x);
            default: return x > 20 ? x : Math.Log(1 + Math.Exp(x)); // Softplus, linear above 20 as in PyTorch
        }
    }

    // erf via the Chebyshev fit of erfc in Numerical Recipes (2nd ed., section 6.2, erfcc): fractional error below
    // 1.2e-7, enough for float32; the CPU backend's MathNet erf is the reference in tests.
    static double Erf(double x)
    {
        double z = Math.Abs(x);
        double t = 1 / (1 + 0.5 * z);
        double erfc = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - erfc : erfc - 1;
    }

    public void Binary(BinaryOp op, StridedView a, StridedView b, StridedView y)
    {
        var dtype = y.Storage.DType;
        int code = (int)op;
        if (dtype == DType.Bool)
        {
            code = op switch
            {
                BinaryOp.LogicalAnd or BinaryOp.Mul or BinaryOp.Minimum => BoolAnd,
                BinaryOp.LogicalOr or BinaryOp.Add or BinaryOp.Maximum => BoolOr,
                _ => throw new NotSupportedException($"{op}: not defined for {dtype.Name()} tensors"),
            };
        }
        else if (op is BinaryOp.LogicalAnd or BinaryOp.LogicalOr || (op == BinaryOp.Pow && !dtype.IsFloating()))
            throw new NotSupportedException($"{op}: not defined for {dtype.Name()} tensors");
        if (y.Numel == 0) return;
        switch (dtype)
        {
            case DType.Float32: BinaryTyped<float, F32>(code, a, b, y); break;
            case DType.Float64: BinaryTyped<double, F64>(code, a, b, y); break;
            case DType.Int32: BinaryTyped<int, I32>(code, a, b, y); break;
            case DType.Int64: BinaryTyped<long, I64>(code, a, b, y); break;
            case DType.Bool: BinaryTyped<byte, B8>(code, a, b, y); break;
        }
    }

    void BinaryTyped<T, TE>(int op, StridedView a, StridedView b, StridedView y) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, a, b, y);
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<T>, View8, ArrayView<T>, View8, int> k = BinaryKernel<T, TE>;
        Load(k)(Extent(y.Numel), n, Data<T>(a), v[0], Data<T>(b), v[1], Data<T>(y), v[2], op);
    });

    static void BinaryKernel<T, TE>(Index1D i, Dims8 n, ArrayView<T> a, View8 av, ArrayView<T> b, View8 bv, ArrayView<T> y, View8 yv, int op)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        T x = a[av.At(i, n)], z = b[bv.At(i, n)];
        y[yv.At(i, n)] = e.IsInteger
            ? e.FromLong(BinaryInteger(op, e.ToLong(x), e.ToLong(z)))
            : e.FromDouble(BinaryFloat(op, e.ToDouble(x), e.ToDouble(z)));
    }

    // Integer division by zero has no value; the kernel writes 0 rather than fault the device.
    static long BinaryInteger(int op, long a, long b) => op switch
    {
        (int)BinaryOp.Add => a + b,
        (int)BinaryOp.Sub => a - b,
        (int)BinaryOp.Mul => a * b,
        (int)BinaryOp.Div => b == 0 ? 0 : a / b,
        (int)BinaryOp.Maximum => a > b ? a : b,
        (int)BinaryOp.Minimum => a < b ? a : b,
        BoolAnd => a != 0 && b != 0 ? 1 : 0,
        _ => a != 0 || b != 0 ? 1 : 0,
    };

    // Float32 operands are exact in double and +,-,*,/ round once back to float, so those match float arithmetic.
    static double BinaryFloat(int op, double a, double b) => op switch
    {
        (int)BinaryOp.Add => a + b,
        (int)BinaryOp.Sub => a - b,
        (int)BinaryOp.Mul => a * b,
        (int)BinaryOp.Div => a / b,
        (int)BinaryOp.Pow => Math.Pow(a, b),
        (int)BinaryOp.Maximum => double.IsNaN(a) || double.IsNaN(b) ? a + b : a > b ? a : b,
        _ => double.IsNaN(a) || double.IsNaN(b) ? a + b : a < b ? a : b,
    };

    public void Compare(CompareOp op, StridedView a, StridedView b, StridedView y)
    {
        if (y.Numel == 0) return;
        switch (a.Storage.DType)
        {
            case DType.Float32: CompareTyped<float, F32>(op, a, b, y); break;
            case DType.Float64: CompareTyped<double, F64>(op, a, b, y); break;
            case DType.Int32: CompareTyped<int, I32>(op, a, b, y); break;
            case DType.Int64: CompareTyped<long, I64>(op, a, b, y); break;
            case DType.Bool: CompareTyped<byte, B8>(op, a, b, y); break;
        }
    }

    void CompareTyped<T, TE>(CompareOp op, StridedView a, StridedView b, StridedView y) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, a, b, y);
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<T>, View8, ArrayView<byte>, View8, int> k = CompareKernel<T, TE>;
        Load(k)(Extent(y.Numel), n, Data<T>(a), v[0], Data<T>(b), v[1], Data<byte>(y), v[2], (int)op);
    });

    static void CompareKernel<T, TE>(Index1D i, Dims8 n, ArrayView<T> a, View8 av, ArrayView<T> b, View8 bv, ArrayView<byte> y, View8 yv, int op)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        T x = a[av.At(i, n)], z = b[bv.At(i, n)];
        int c;
        bool unordered = false;
        if (e.IsInteger)
        {
            long p = e.ToLong(x), q = e.ToLong(z);
            c = p < q ? -1 : p > q ? 1 : 0;
        }
        else
        {
            double p = e.ToDouble(x), q = e.ToDouble(z);
            unordered = double.IsNaN(p) || double.IsNaN(q); // NaN compares false, except Ne
            c = p < q ? -1 : p > q ? 1 : 0;
        }
        bool r = unordered ? op == (int)CompareOp.Ne : op switch
        {
            (int)CompareOp.Eq => c == 0,
            (int)CompareOp.Ne => c != 0,
            (int)CompareOp.Lt => c < 0,
            (int)CompareOp.Le => c <= 0,
            (int)CompareOp.Gt => c > 0,
            _ => c >= 0,
        };
        y[yv.At(i, n)] = r ? (byte)1 : (byte)0;
    }

    public void Where(StridedView condition, StridedView a, StridedView b, StridedView y)
    {
        if (y.Numel == 0) return;
        switch (y.Storage.DType)
        {
            case DType.Float32: WhereTyped<float>(condition, a, b, y); break;
            case DType.Float64: WhereTyped<double>(condition, a, b, y); break;
            case DType.Int32: WhereTyped<int>(condition, a, b, y); break;
            case DType.Int64: WhereTyped<long>(condition, a, b, y); break;
            case DType.Bool: WhereTyped<byte>(condition, a, b, y); break;
        }
    }

    void WhereTyped<T>(StridedView c, StridedView a, StridedView b, StridedView y) where T : unmanaged => Launch(() =>
    {
        var (n, v) = StridedLayout.Pack(y.Shape, c, a, b, y);
        Action<Index1D, Dims8, ArrayView<byte>, View8, ArrayView<T>, View8, ArrayView<T>, View8, ArrayView<T>, View8> k = WhereKernel<T>;
        Load(k)(Extent(y.Numel), n, Data<byte>(c), v[0], Data<T>(a), v[1], Data<T>(b), v[2], Data<T>(y), v[3]);
    });

    static void WhereKernel<T>(Index1D i, Dims8 n, ArrayView<byte> c, View8 cv, ArrayView<T> a, View8 av, ArrayView<T> b, View8 bv, ArrayView<T> y, View8 yv)
        where T : unmanaged
        => y[yv.At(i, n)] = c[cv.At(i, n)] != 0 ? a[av.At(i, n)] : b[bv.At(i, n)];
}

using System.Runtime.InteropServices;
using System.Numerics;
using System.Numerics.Tensors;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void Unary(UnaryOp op, StridedView x, StridedView y, double p0 = 0, double p1 = 0)
    {
        // Unary kernels work on contiguous spans; a strided input is gathered first (one cheap copy).
        if (x.Numel == 0) return; // TensorPrimitives.Sigmoid rejects empty spans
        var src = x.IsContiguous ? x : Contiguous(x);
        int n = (int)src.Numel, xo = (int)src.Offset, yo = (int)y.Offset;
        var xs = Cpu(src);
        var ys = Cpu(y);
        CpuThreading.For(n, n, (start, end) =>
        {
            int s = (int)start, len = (int)(end - start);
            switch (x.Storage.DType)
            {
                case DType.Float32: UnaryFloatBlocked<float>(op, xs.Array<float>().AsSpan(xo + s, len), ys.Array<float>().AsSpan(yo + s, len), p0, p1); break;
                case DType.Float64: UnaryFloatBlocked<double>(op, xs.Array<double>().AsSpan(xo + s, len), ys.Array<double>().AsSpan(yo + s, len), p0, p1); break;
                case DType.Int32: UnaryInteger<int>(op, xs.Array<int>().AsSpan(xo + s, len), ys.Array<int>().AsSpan(yo + s, len), p0, p1); break;
                case DType.Int64: UnaryInteger<long>(op, xs.Array<long>().AsSpan(xo + s, len), ys.Array<long>().AsSpan(yo + s, len), p0, p1); break;
                case DType.Bool when op == UnaryOp.LogicalNot:
                    var xb = xs.Array<byte>().AsSpan(xo + s, len);
                    TensorPrimitives.Xor(xb, (byte)1, ys.Array<byte>().AsSpan(yo + s, len));
                    break;
                default: throw new NotSupportedException($"{op}: not defined for {x.Storage.DType.Name()} tensors");
            }
        });
    }

    /// <summary>Elements per block of a unary op built from several span passes: x and y blocks stay in L1 between passes.</summary>
    const int UnaryBlockBytes = 16 * 1024;

    // The Float64 tanh GELU, SiLU, clamp and their derivatives are chains of span operations (up to eight passes). Over a
    // whole activation ([16, 128, 512] floats is 4 MB) every pass would stream from L3 or memory; over 16 KB blocks the
    // passes after the first hit L1.
    static void UnaryFloatBlocked<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> y, double p0, double p1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int block = UnaryBlockBytes / System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (op is not (UnaryOp.GeluTanh or UnaryOp.GeluTanhDerivative or UnaryOp.Silu or UnaryOp.SiluDerivative or UnaryOp.Clamp) || x.Length <= block)
        {
            UnaryFloat(op, x, y, p0, p1);
            return;
        }
        for (int i = 0; i < x.Length; i += block)
        {
            int n = Math.Min(block, x.Length - i);
            UnaryFloat(op, x.Slice(i, n), y.Slice(i, n), p0, p1);
        }
    }

    static void UnaryFloat<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> y, double p0, double p1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (op)
        {
            case UnaryOp.Neg: TensorPrimitives.Negate(x, y); break;
            case UnaryOp.Abs: TensorPrimitives.Abs(x, y); break;
            case UnaryOp.Sign: for (int i = 0; i < x.Length; i++) y[i] = T.IsNaN(x[i]) ? x[i] : T.CreateTruncating(T.Sign(x[i])); break;
            case UnaryOp.Exp: TensorPrimitives.Exp(x, y); break;
            case UnaryOp.Log: TensorPrimitives.Log(x, y); break;
            case UnaryOp.Log1p: TensorPrimitives.LogP1(x, y); break;
            case UnaryOp.Sqrt: TensorPrimitives.Sqrt(x, y); break;
            case UnaryOp.Rsqrt: TensorPrimitives.ReciprocalSqrt(x, y); break;
            case UnaryOp.Sin: TensorPrimitives.Sin(x, y); break;
            case UnaryOp.Cos: TensorPrimitives.Cos(x, y); break;
            case UnaryOp.Tanh: TensorPrimitives.Tanh(x, y); break;
            case UnaryOp.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case UnaryOp.Relu: TensorPrimitives.Max(x, T.Zero, y); break;
            case UnaryOp.Square: TensorPrimitives.Multiply(x, x, y); break;
            case UnaryOp.Reciprocal: TensorPrimitives.Reciprocal(x, y); break;
            case UnaryOp.Clamp:
                TensorPrimitives.Max(x, T.CreateTruncating(p0), y);
                TensorPrimitives.Min(y, T.CreateTruncating(p1), y);
                break;
            case UnaryOp.Silu:
                // x * sigmoid(x)
                TensorPrimitives.Sigmoid(x, y);
                TensorPrimitives.Multiply(x, y, y);
                break;
            case UnaryOp.GeluTanh when typeof(T) == typeof(float):
                GeluTanhFloat.Forward(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
                break;
            case UnaryOp.GeluTanh:
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), Hendrycks & Gimpel 2016, section 2;
                // built in place in y from vectorised span ops (x is only read).
                TensorPrimitives.Multiply(x, x, y);
                TensorPrimitives.Multiply(y, x, y);
                TensorPrimitives.MultiplyAdd(y, T.CreateTruncating(0.044715), x, y);
                TensorPrimitives.Multiply(y, T.CreateTruncating(0.7978845608028654), y);
                TensorPrimitives.Tanh(y, y);
                TensorPrimitives.Add(y, T.One, y);
                TensorPrimitives.Multiply(y, x, y);
                TensorPrimitives.Multiply(y, T.CreateTruncating(0.5), y);
                break;
            case UnaryOp.GeluErf when typeof(T) == typeof(float):
                GeluErfFloat.Forward(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
                break;
            case UnaryOp.GeluErf:
                // x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
                for (int i = 0; i < x.Length; i++)
                {
                    double v = double.CreateTruncating(x[i]);
                    y[i] = T.CreateTruncating(0.5 * v * (1.0 + MathNet.Numerics.SpecialFunctions.Erf(v * 0.7071067811865476)));
                }
                break;
            case UnaryOp.GeluTanhDerivative when typeof(T) == typeof(float):
                GeluTanhFloat.Derivative(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
                break;
            case UnaryOp.GeluTanhDerivative:
                // d/dx of the tanh GELU: (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 k x^2), t = tanh(c (x + k x^3))
                TensorPrimitives.Multiply(x, x, y);
                TensorPrimitives.Multiply(y, x, y);
                TensorPrimitives.MultiplyAdd(y, T.CreateTruncating(0.044715), x, y);
                TensorPrimitives.Multiply(y, T.CreateTruncating(0.7978845608028654), y);
                TensorPrimitives.Tanh(y, y);
                GeluTanhDerivativeFromTanh(x, y);
                break;
            case UnaryOp.SiluDerivative:
                // d/dx x s(x) = s (1 + x (1 - s))
                TensorPrimitives.Sigmoid(x, y);
                SiluDerivativeFromSigmoid(x, y);
                break;
            case UnaryOp.GeluErfDerivative when typeof(T) == typeof(float):
                GeluErfFloat.Derivative(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
                break;
            case UnaryOp.GeluErfDerivative:
                // Phi(x) + x phi(x)
                for (int i = 0; i < x.Length; i++)
                {
                    double v = double.CreateTruncating(x[i]);
                    double cdf = 0.5 * (1.0 + MathNet.Numerics.SpecialFunctions.Erf(v * 0.7071067811865476));
                    y[i] = T.CreateTruncating(cdf + v * Math.Exp(-0.5 * v * v) * 0.3989422804014327);
                }
                break;
            case UnaryOp.Erf:
                for (int i = 0; i < x.Length; i++) y[i] = T.CreateTruncating(MathNet.Numerics.SpecialFunctions.Erf(double.CreateTruncating(x[i])));
                break;
            case UnaryOp.Softplus:
                // log(1 + e^x), linear above 20 as in PyTorch (beta = 1, threshold = 20)
                for (int i = 0; i < x.Length; i++)
                    y[i] = x[i] > T.CreateTruncating(20) ? x[i] : T.LogP1(T.Exp(x[i]));
                break;
            default: throw new NotSupportedException($"{op}: not defined for floating tensors");
        }
    }

    // y holds t = tanh(u) on entry and the GELU derivative on exit.
    static void GeluTanhDerivativeFromTanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T half = T.CreateTruncating(0.5), c = T.CreateTruncating(0.7978845608028654), k3 = T.CreateTruncating(3 * 0.044715);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var (vh, vc, vk, one) = (new Vector<T>(half), new Vector<T>(c), new Vector<T>(k3), Vector<T>.One);
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var xv = new Vector<T>(x[i..]);
                var t = new Vector<T>(y[i..]);
                var d = vh * (one + t) + vh * xv * (one - t * t) * vc * (one + vk * xv * xv);
                d.CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            T t = y[i], v = x[i];
            y[i] = half * (T.One + t) + half * v * (T.One - t * t) * c * (T.One + k3 * v * v);
        }
    }

    // y holds s = sigmoid(x) on entry and d/dx (x s(x)) on exit.
    static void SiluDerivativeFromSigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var s = new Vector<T>(y[i..]);
                (s * (Vector<T>.One + new Vector<T>(x[i..]) * (Vector<T>.One - s))).CopyTo(y[i..]);
            }
        for (; i < x.Length; i++) y[i] = y[i] * (T.One + x[i] * (T.One - y[i]));
    }

    static void UnaryInteger<T>(UnaryOp op, ReadOnlySpan<T> x, Span<T> y, double p0, double p1) where T : unmanaged, IBinaryInteger<T>, ISignedNumber<T>
    {
        switch (op)
        {
            case UnaryOp.Neg: TensorPrimitives.Negate(x, y); break;
            case UnaryOp.Abs: for (int i = 0; i < x.Length; i++) y[i] = T.Abs(x[i]); break;
            case UnaryOp.Sign: for (int i = 0; i < x.Length; i++) y[i] = T.CreateTruncating(T.Sign(x[i])); break;
            case UnaryOp.Relu: TensorPrimitives.Max(x, T.Zero, y); break;
            case UnaryOp.Square: TensorPrimitives.Multiply(x, x, y); break;
            case UnaryOp.Clamp:
                TensorPrimitives.Max(x, T.CreateSaturating(p0), y);
                TensorPrimitives.Min(y, T.CreateSaturating(p1), y);
                break;
            default: throw new NotSupportedException($"{op}: not defined for integer tensors");
        }
    }

    public void Binary(BinaryOp op, StridedView a, StridedView b, StridedView y)
    {
        var loop = new StridedLoop(y.Shape, a, b, y);
        var dtype = y.Storage.DType;
        switch (op, dtype)
        {
            case (BinaryOp.Pow, DType.Float32): loop.Run(new BinaryRow<float, PowOp<float>>(Cpu(a).Array<float>(), Cpu(b).Array<float>(), Cpu(y).Array<float>())); return;
            case (BinaryOp.Pow, DType.Float64): loop.Run(new BinaryRow<double, PowOp<double>>(Cpu(a).Array<double>(), Cpu(b).Array<double>(), Cpu(y).Array<double>())); return;
            case (BinaryOp.LogicalAnd or BinaryOp.Mul or BinaryOp.Minimum, DType.Bool): loop.Run(new BinaryRow<byte, AndOp>(Cpu(a).Array<byte>(), Cpu(b).Array<byte>(), Cpu(y).Array<byte>())); return;
            case (BinaryOp.LogicalOr or BinaryOp.Add or BinaryOp.Maximum, DType.Bool): loop.Run(new BinaryRow<byte, OrOp>(Cpu(a).Array<byte>(), Cpu(b).Array<byte>(), Cpu(y).Array<byte>())); return;
            case (BinaryOp.Pow or BinaryOp.LogicalAnd or BinaryOp.LogicalOr, _):
            case (_, DType.Bool):
                throw new NotSupportedException($"{op}: not defined for {dtype.Name()} tensors");
        }
        switch (dtype)
        {
            case DType.Float32: BinaryNumeric<float>(op, loop, a, b, y); break;
            case DType.Float64: BinaryNumeric<double>(op, loop, a, b, y); break;
            case DType.Int32: BinaryNumeric<int>(op, loop, a, b, y); break;
            case DType.Int64: BinaryNumeric<long>(op, loop, a, b, y); break;
        }
    }

    static void BinaryNumeric<T>(BinaryOp op, StridedLoop loop, StridedView a, StridedView b, StridedView y) where T : unmanaged, INumber<T>
    {
        T[] aa = Cpu(a).Array<T>(), ba = Cpu(b).Array<T>(), ya = Cpu(y).Array<T>();
        switch (op)
        {
            case BinaryOp.Add: loop.Run(new BinaryRow<T, AddOp<T>>(aa, ba, ya)); break;
            case BinaryOp.Sub: loop.Run(new BinaryRow<T, SubOp<T>>(aa, ba, ya)); break;
            case BinaryOp.Mul: loop.Run(new BinaryRow<T, MulOp<T>>(aa, ba, ya)); break;
            case BinaryOp.Div: loop.Run(new BinaryRow<T, DivOp<T>>(aa, ba, ya)); break;
            case BinaryOp.Maximum: loop.Run(new BinaryRow<T, MaxOp<T>>(aa, ba, ya)); break;
            case BinaryOp.Minimum: loop.Run(new BinaryRow<T, MinOp<T>>(aa, ba, ya)); break;
            default: throw new NotSupportedException($"{op}: not defined for {y.Storage.DType.Name()} tensors");
        }
    }

    /// <summary>One elementwise function of two arguments, on scalars and on spans (vectorised by TensorPrimitives).</summary>
    internal interface IBinaryFunction<T>
    {
        static abstract T Apply(T a, T b);
        static abstract void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y);
        static abstract void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y);
        static abstract void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y);
    }

    readonly struct AddOp<T> : IBinaryFunction<T> where T : INumber<T>
    {
        public static T Apply(T a, T b) => a + b;
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Add(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Add(a, b, y);
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Add(b, a, y);
    }

    readonly struct SubOp<T> : IBinaryFunction<T> where T : INumber<T>
    {
        public static T Apply(T a, T b) => a - b;
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Subtract(a, b, y);
    }

    readonly struct MulOp<T> : IBinaryFunction<T> where T : INumber<T>
    {
        public static T Apply(T a, T b) => a * b;
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Multiply(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Multiply(a, b, y);
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Multiply(b, a, y);
    }

    readonly struct DivOp<T> : IBinaryFunction<T> where T : INumber<T>
    {
        public static T Apply(T a, T b) => a / b;
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Divide(a, b, y);
    }

    readonly struct MaxOp<T> : IBinaryFunction<T> where T : INumber<T>
    {
        public static T Apply(T a, T b) => T.Max(a, b);
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Max(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Max(a, b, y);
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Max(b, a, y);
    }

    readonly struct MinOp<T> : IBinaryFunction<T> where T : INumber<T>
    {
        public static T Apply(T a, T b) => T.Min(a, b);
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Min(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y) => TensorPrimitives.Min(a, b, y);
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Min(b, a, y);
    }

    readonly struct PowOp<T> : IBinaryFunction<T> where T : IPowerFunctions<T>, INumber<T>
    {
        public static T Apply(T a, T b) => T.Pow(a, b);
        public static void Spans(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
        public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> y)
        {
            // Squares and square roots are common (norms, variance); keep them exact and fast.
            if (b == T.CreateTruncating(2)) TensorPrimitives.Multiply(a, a, y);
            else if (b == T.One) a.CopyTo(y);
            else TensorPrimitives.Pow(a, b, y);
        }
        public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> y) => TensorPrimitives.Pow(a, b, y);
    }

    readonly struct AndOp : IBinaryFunction<byte>
    {
        public static byte Apply(byte a, byte b) => (byte)(a & b);
        public static void Spans(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> y) => TensorPrimitives.BitwiseAnd(a, b, y);
        public static void SpanScalar(ReadOnlySpan<byte> a, byte b, Span<byte> y) => TensorPrimitives.BitwiseAnd(a, b, y);
        public static void ScalarSpan(byte a, ReadOnlySpan<byte> b, Span<byte> y) => TensorPrimitives.BitwiseAnd(b, a, y);
    }

    readonly struct OrOp : IBinaryFunction<byte>
    {
        public static byte Apply(byte a, byte b) => (byte)(a | b);
        public static void Spans(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> y) => TensorPrimitives.BitwiseOr(a, b, y);
        public static void SpanScalar(ReadOnlySpan<byte> a, byte b, Span<byte> y) => TensorPrimitives.BitwiseOr(a, b, y);
        public static void ScalarSpan(byte a, ReadOnlySpan<byte> b, Span<byte> y) => TensorPrimitives.BitwiseOr(b, a, y);
    }

    /// <summary>Applies a binary function to one row, choosing the span form when strides allow.</summary>
    readonly struct BinaryRow<T, TOp>(T[] a, T[] b, T[] y) : IRowKernel where T : unmanaged where TOp : IBinaryFunction<T>
    {
        public void Row(ReadOnlySpan<long> o, int n, ReadOnlySpan<long> s)
        {
            long sa = s[0], sb = s[1], sy = s[2];
            if (sy == 1)
            {
                var dst = y.AsSpan((int)o[2], n);
                if (sa == 1 && sb == 1) { TOp.Spans(a.AsSpan((int)o[0], n), b.AsSpan((int)o[1], n), dst); return; }
                if (sa == 1 && sb == 0) { TOp.SpanScalar(a.AsSpan((int)o[0], n), b[o[1]], dst); return; }
                if (sa == 0 && sb == 1) { TOp.ScalarSpan(a[o[0]], b.AsSpan((int)o[1], n), dst); return; }
            }
            for (int i = 0; i < n; i++) y[o[2] + i * sy] = TOp.Apply(a[o[0] + i * sa], b[o[1] + i * sb]);
        }
    }

    public void Compare(CompareOp op, StridedView a, StridedView b, StridedView y)
    {
        var loop = new StridedLoop(y.Shape, a, b, y);
        var yb = Cpu(y).Array<byte>();
        switch (a.Storage.DType)
        {
            case DType.Float32: loop.Run(new CompareRow<float>(op, Cpu(a).Array<float>(), Cpu(b).Array<float>(), yb)); break;
            case DType.Float64: loop.Run(new CompareRow<double>(op, Cpu(a).Array<double>(), Cpu(b).Array<double>(), yb)); break;
            case DType.Int32: loop.Run(new CompareRow<int>(op, Cpu(a).Array<int>(), Cpu(b).Array<int>(), yb)); break;
            case DType.Int64: loop.Run(new CompareRow<long>(op, Cpu(a).Array<long>(), Cpu(b).Array<long>(), yb)); break;
            case DType.Bool: loop.Run(new CompareRow<byte>(op, Cpu(a).Array<byte>(), Cpu(b).Array<byte>(), yb)); break;
        }
    }

    readonly struct CompareRow<T>(CompareOp op, T[] a, T[] b, byte[] y) : IRowKernel where T : unmanaged, INumber<T>
    {
        public void Row(ReadOnlySpan<long> o, int n, ReadOnlySpan<long> s)
        {
            long ia = o[0], ib = o[1], iy = o[2];
            for (int i = 0; i < n; i++, ia += s[0], ib += s[1], iy += s[2])
            {
                T x = a[ia], z = b[ib];
                bool r = op switch
                {
                    CompareOp.Eq => x == z,
                    CompareOp.Ne => x != z,
                    CompareOp.Lt => x < z,
                    CompareOp.Le => x <= z,
                    CompareOp.Gt => x > z,
                    _ => x >= z,
                };
                y[iy] = r ? (byte)1 : (byte)0;
            }
        }
    }

    public void Where(StridedView condition, StridedView a, StridedView b, StridedView y)
        => DispatchAll(y.Storage.DType, new WhereAction(condition, a, b, y));

    readonly struct WhereAction(StridedView c, StridedView a, StridedView b, StridedView y) : IAnyAction
    {
        public void Invoke<T>() where T : unmanaged
            => new StridedLoop(y.Shape, c, a, b, y).Run(new WhereRow<T>(Cpu(c).Array<byte>(), Cpu(a).Array<T>(), Cpu(b).Array<T>(), Cpu(y).Array<T>()));
    }

    readonly struct WhereRow<T>(byte[] c, T[] a, T[] b, T[] y) : IRowKernel where T : unmanaged
    {
        public void Row(ReadOnlySpan<long> o, int n, ReadOnlySpan<long> s)
        {
            long ic = o[0], ia = o[1], ib = o[2], iy = o[3];
            for (int i = 0; i < n; i++, ic += s[0], ia += s[1], ib += s[2], iy += s[3])
                y[iy] = c[ic] != 0 ? a[ia] : b[ib];
        }
    }
}

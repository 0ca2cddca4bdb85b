using Engine.Backends;
using Engine.Recording;

namespace Engine;

// Elementwise ops with NumPy/PyTorch broadcasting and type promotion.
public sealed partial class Tensor
{
    internal static void RequireSameDevice(string op, Tensor a, Tensor b)
    {
        if (a.Device != b.Device)
            throw new ArgumentException($"{op}: tensors are on different devices ({a.Device} and {b.Device}); move one with .To(device)");
    }

    // Broadcasts both operands, promotes them to a common dtype, and runs one binary kernel.
    static Tensor Binary(string name, BinaryOp op, Tensor a, Tensor b, DType? computeAs = null)
    {
        RequireSameDevice(name, a, b);
        var shape = Shapes.Broadcast(name, a._shape, b._shape);
        var dtype = computeAs ?? DTypes.Promote(a.DType, b.DType);
        var x = a.To(dtype).Expand(shape);
        var y = b.To(dtype).Expand(shape);
        var result = Empty(shape, dtype, a.Backend);
        a.Backend.Binary(op, x.Strided, y.Strided, result.Strided);
        return op switch
        {
            BinaryOp.LogicalAnd or BinaryOp.LogicalOr => result.RecordNonDifferentiable(name, x, y),
            _ => result.Record(BinaryKinds[(int)op], [x, y]),
        };
    }

    // A C# number as a 0-d tensor of the dtype PyTorch would use with this tensor:
    // floating tensors keep their dtype; integer tensors stay integer only for integral scalars.
    Tensor ScalarLike(double value)
    {
        var dtype = DType.IsFloating() ? DType
            : DType == DType.Bool ? (value == Math.Floor(value) ? DType.Int64 : DType.Float32)
            : value == Math.Floor(value) && !double.IsInfinity(value) ? DType : DType.Float32;
        return Scalar(value, dtype, Device);
    }

    static readonly OpKind[] BinaryKinds = [OpKind.Add, OpKind.Sub, OpKind.Mul, OpKind.Div, OpKind.Pow, OpKind.Maximum, OpKind.Minimum];

    Tensor Unary(UnaryOp op, double p0 = 0, double p1 = 0, bool floating = true)
    {
        var x = floating ? To(DType.ToFloating()) : this;
        var result = Empty(_shape, x.DType, Backend);
        Backend.Unary(op, x.Strided, result.Strided, p0, p1);
        return op is UnaryOp.Sign or UnaryOp.LogicalNot
            ? result.RecordNonDifferentiable(op.ToString(), x)
            : result.Record(Enum.Parse<OpKind>(op.ToString()), [x], op == UnaryOp.Clamp ? new() { P0 = p0, P1 = p1 } : null);
    }

    /// <summary>
    /// d/dx of an activation at this tensor's values, computed by one kernel and not recorded: backward passes use it
    /// when they build no graph (otherwise they compose the derivative from recorded ops so it can be differentiated).
    /// </summary>
    internal Tensor ActivationDerivative(UnaryOp derivative)
    {
        var result = Empty(_shape, DType, Backend);
        Backend.Unary(derivative, Contiguous().Strided, result.Strided);
        return result;
    }

    /// <summary>
    /// <paramref name="gradient"/> times d/dx of an activation at this tensor's values (the activation's input
    /// gradient), with the product taken in place in the derivative's buffer: one tensor of the activation's size per
    /// backward instead of two. Not recorded, like <see cref="ActivationDerivative"/>.
    /// </summary>
    internal Tensor ActivationGradient(UnaryOp derivative, Tensor gradient)
    {
        if (!gradient._shape.AsSpan().SequenceEqual(_shape) || gradient.DType != DType || gradient.Backend != Backend)
            return gradient * ActivationDerivative(derivative);
        var result = ActivationDerivative(derivative);
        Backend.Binary(BinaryOp.Mul, result.Strided, gradient.Strided, result.Strided);
        return result;
    }

    /// <summary>this + other, broadcast.</summary>
    public Tensor Add(Tensor other) => Binary("Add", BinaryOp.Add, this, other);
    /// <summary>this + scalar.</summary>
    public Tensor Add(double scalar) => Add(ScalarLike(scalar));
    /// <summary>this - other, broadcast.</summary>
    public Tensor Sub(Tensor other) => Binary("Sub", BinaryOp.Sub, this, other);
    /// <summary>this - scalar.</summary>
    public Tensor Sub(double scalar) => Sub(ScalarLike(scalar));
    /// <summary>this * other, broadcast.</summary>
    public Tensor Mul(Tensor other) => Binary("Mul", BinaryOp.Mul, this, other);
    /// <summary>this * scalar.</summary>
    public Tensor Mul(double scalar) => Mul(ScalarLike(scalar));

    /// <summary>True division this / other, broadcast; integer inputs give Float32 (as torch.div).</summary>
    public Tensor Div(Tensor other) => Binary("Div", BinaryOp.Div, this, other, DTypes.Promote(DType, other.DType).ToFloating());
    /// <summary>this / scalar.</summary>
    public Tensor Div(double scalar) => Div(Scalar(scalar, DType.ToFloating(), Device));

    /// <summary>this ^ exponent elementwise, broadcast. Integer tensors are raised in Float64 and cast back.</summary>
    public Tensor Pow(Tensor exponent)
    {
        var dtype = DTypes.Promote(DType, exponent.DType);
        if (dtype.IsFloating()) return Binary("Pow", BinaryOp.Pow, this, exponent);
        return Binary("Pow", BinaryOp.Pow, this, exponent, DType.Float64).To(dtype);
    }

    /// <summary>this ^ scalar.</summary>
    public Tensor Pow(double exponent) => Pow(ScalarLike(exponent));

    /// <summary>Elementwise maximum (NaN propagates, as torch.maximum).</summary>
    public Tensor Maximum(Tensor other) => Binary("Maximum", BinaryOp.Maximum, this, other);
    /// <summary>Elementwise minimum (NaN propagates, as torch.minimum).</summary>
    public Tensor Minimum(Tensor other) => Binary("Minimum", BinaryOp.Minimum, this, other);

    /// <summary>Elementwise AND of two Bool tensors.</summary>
    public Tensor LogicalAnd(Tensor other) => Binary("LogicalAnd", BinaryOp.LogicalAnd, this.To(DType.Bool), other.To(DType.Bool));
    /// <summary>Elementwise OR of two Bool tensors.</summary>
    public Tensor LogicalOr(Tensor other) => Binary("LogicalOr", BinaryOp.LogicalOr, this.To(DType.Bool), other.To(DType.Bool));
    /// <summary>Elementwise NOT of a Bool tensor.</summary>
    public Tensor LogicalNot() => To(DType.Bool).Unary(UnaryOp.LogicalNot, floating: false);

    public Tensor Neg() => Unary(UnaryOp.Neg, floating: false);
    public Tensor Abs() => Unary(UnaryOp.Abs, floating: false);
    /// <summary>-1, 0 or 1 by sign.</summary>
    public Tensor Sign() => Unary(UnaryOp.Sign, floating: false);
    public Tensor Exp() => Unary(UnaryOp.Exp);
    public Tensor Log() => Unary(UnaryOp.Log);
    /// <summary>log(1 + x), accurate near 0.</summary>
    public Tensor Log1p() => Unary(UnaryOp.Log1p);
    public Tensor Sqrt() => Unary(UnaryOp.Sqrt);
    /// <summary>1 / sqrt(x).</summary>
    public Tensor Rsqrt() => Unary(UnaryOp.Rsqrt);
    public Tensor Sin() => Unary(UnaryOp.Sin);
    public Tensor Cos() => Unary(UnaryOp.Cos);
    public Tensor Tanh() => Unary(UnaryOp.Tanh);
    public Tensor Sigmoid() => Unary(UnaryOp.Sigmoid);
    /// <summary>x * x.</summary>
    public Tensor Square() => Unary(UnaryOp.Square, floating: false);
    /// <summary>1 / x.</summary>
    public Tensor Reciprocal() => Unary(UnaryOp.Reciprocal);
    public Tensor Relu() => Unary(UnaryOp.Relu, floating: false);
    /// <summary>GELU: the exact erf form, or the tanh approximation (GPT-2's gelu_new) when <paramref name="tanhApproximation"/>.</summary>
    public Tensor Gelu(bool tanhApproximation = false) => Unary(tanhApproximation ? UnaryOp.GeluTanh : UnaryOp.GeluErf);
    /// <summary>The error function erf(x) = 2/sqrt(pi) * integral of exp(-t^2) from 0 to x.</summary>
    public Tensor Erf() => Unary(UnaryOp.Erf);
    /// <summary>x * sigmoid(x).</summary>
    public Tensor Silu() => Unary(UnaryOp.Silu);
    /// <summary>log(1 + e^x) (linear above 20, as PyTorch).</summary>
    public Tensor Softplus() => Unary(UnaryOp.Softplus);

    /// <summary>Values limited to [min, max]; either bound may be omitted.</summary>
    public Tensor Clamp(double? min = null, double? max = null)
    {
        Require(min is not null || max is not null, "Clamp: at least one of min and max must be given");
        var lo = min ?? double.NegativeInfinity;
        var hi = max ?? double.PositiveInfinity;
        Require(!(lo > hi), $"Clamp: min {lo} is greater than max {hi}");
        if (!DType.IsFloating() && DType != DType.Bool)
        {
            lo = Math.Max(lo, DType == DType.Int32 ? int.MinValue : long.MinValue);
            hi = Math.Min(hi, DType == DType.Int32 ? int.MaxValue : long.MaxValue);
        }
        return Unary(UnaryOp.Clamp, lo, hi, floating: DType == DType.Bool);
    }

    // Comparisons: Bool results, broadcast, compared in the promoted dtype.
    Tensor Compare(string name, CompareOp op, Tensor other)
    {
        RequireSameDevice(name, this, other);
        var shape = Shapes.Broadcast(name, _shape, other._shape);
        var dtype = DTypes.Promote(DType, other.DType);
        var result = Empty(shape, DType.Bool, Backend);
        Backend.Compare(op, To(dtype).Expand(shape).Strided, other.To(dtype).Expand(shape).Strided, result.Strided);
        return result.RecordNonDifferentiable(name, this, other);
    }

    public Tensor Eq(Tensor other) => Compare("Eq", CompareOp.Eq, other);
    public Tensor Eq(double value) => Eq(ScalarLike(value));
    public Tensor Ne(Tensor other) => Compare("Ne", CompareOp.Ne, other);
    public Tensor Ne(double value) => Ne(ScalarLike(value));
    public Tensor Lt(Tensor other) => Compare("Lt", CompareOp.Lt, other);
    public Tensor Lt(double value) => Lt(ScalarLike(value));
    public Tensor Le(Tensor other) => Compare("Le", CompareOp.Le, other);
    public Tensor Le(double value) => Le(ScalarLike(value));
    public Tensor Gt(Tensor other) => Compare("Gt", CompareOp.Gt, other);
    public Tensor Gt(double value) => Gt(ScalarLike(value));
    public Tensor Ge(Tensor other) => Compare("Ge", CompareOp.Ge, other);
    public Tensor Ge(double value) => Ge(ScalarLike(value));

    /// <summary>condition ? a : b elementwise, all three broadcast (torch.where).</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        RequireSameDevice("Where", a, b);
        RequireSameDevice("Where", condition, a);
        Require(condition.DType == DType.Bool, $"Where: condition must be Bool, got {condition.DType.Name()}");
        var shape = Shapes.Broadcast("Where", Shapes.Broadcast("Where", condition._shape, a._shape), b._shape);
        var dtype = DTypes.Promote(a.DType, b.DType);
        var result = Empty(shape, dtype, a.Backend);
        var (c, x, y) = (condition.Expand(shape), a.To(dtype).Expand(shape), b.To(dtype).Expand(shape));
        a.Backend.Where(c.Strided, x.Strided, y.Strided, result.Strided);
        return result.Record(OpKind.Where, [c, x, y]);
    }

    /// <summary>condition ? a : b with a scalar second branch.</summary>
    public static Tensor Where(Tensor condition, Tensor a, double b) => Where(condition, a, a.ScalarLike(b));

    /// <summary>condition ? a : b with two scalar branches, in the given dtype (e.g. a 0 / -inf attention bias).</summary>
    public static Tensor Where(Tensor condition, double a, double b, DType dtype = DType.Float32)
        => Where(condition, Scalar(a, dtype, condition.Device), Scalar(b, dtype, condition.Device));

    /// <summary>This tensor with <paramref name="value"/> wherever the Bool mask (broadcast) is true.</summary>
    public Tensor MaskedFill(Tensor mask, double value)
    {
        Require(mask.DType == DType.Bool, $"MaskedFill: mask must be Bool, got {mask.DType.Name()}");
        Shapes.Broadcast("MaskedFill", _shape, mask._shape);
        var filled = Where(mask, Scalar(value, DType, Device), this);
        Require(filled.Rank == Rank && filled._shape.SequenceEqual(_shape),
            $"MaskedFill: mask {Shapes.Format(mask._shape)} would broadcast the tensor {Shapes.Format(_shape)} to {Shapes.Format(filled._shape)}");
        return filled;
    }

    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    public static Tensor operator +(Tensor a, double b) => a.Add(b);
    public static Tensor operator +(double a, Tensor b) => b.Add(a);
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    public static Tensor operator -(Tensor a, double b) => a.Sub(b);
    public static Tensor operator -(double a, Tensor b) => b.ScalarLike(a).Sub(b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    public static Tensor operator *(Tensor a, double b) => a.Mul(b);
    public static Tensor operator *(double a, Tensor b) => b.Mul(a);
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    public static Tensor operator /(Tensor a, double b) => a.Div(b);
    public static Tensor operator /(double a, Tensor b) => Scalar(a, b.DType.ToFloating(), b.Device).Div(b);
    public static Tensor operator -(Tensor a) => a.Neg();
    public static Tensor operator <(Tensor a, Tensor b) => a.Lt(b);
    public static Tensor operator >(Tensor a, Tensor b) => a.Gt(b);
    public static Tensor operator <=(Tensor a, Tensor b) => a.Le(b);
    public static Tensor operator >=(Tensor a, Tensor b) => a.Ge(b);
    public static Tensor operator <(Tensor a, double b) => a.Lt(b);
    public static Tensor operator >(Tensor a, double b) => a.Gt(b);
    public static Tensor operator <=(Tensor a, double b) => a.Le(b);
    public static Tensor operator >=(Tensor a, double b) => a.Ge(b);
    public static Tensor operator &(Tensor a, Tensor b) => a.LogicalAnd(b);
    public static Tensor operator |(Tensor a, Tensor b) => a.LogicalOr(b);
    public static Tensor operator !(Tensor a) => a.LogicalNot();
}

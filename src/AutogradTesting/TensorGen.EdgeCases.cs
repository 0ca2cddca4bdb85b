using FsCheck;
using FsCheck.Fluent;

namespace Engine.Autograd.Testing;

// The points the other generators avoid: exact zeros (of both signs), ties, constant slices, empty dimensions and
// huge magnitudes. These are where a derivative does not exist and PyTorch defines a subgradient, and where a rule
// written for the smooth case gives NaN (0 * inf, 0 / 0, inf - inf).
public static partial class TensorGen
{
    /// <summary>What one slice of <see cref="EdgeSlices"/> looks like.</summary>
    public enum SliceKind
    {
        /// <summary>Values spread over [-2, 2), no special structure.</summary>
        Random,
        /// <summary>Exact zeros, a mix of +0.0 and -0.0.</summary>
        AllZero,
        /// <summary>One value repeated (0.1, -7.3, 1e30, ...: chosen so its mean is not exactly representable).</summary>
        Constant,
        /// <summary>Exactly one element is zero (of either sign).</summary>
        OneZero,
        /// <summary>Exactly two elements are zero (of either sign); needs length 2 or more.</summary>
        TwoZeros,
        /// <summary>The largest value occurs at least twice, and so does the smallest (small integers).</summary>
        Ties,
    }

    /// <summary>Values whose repetition makes a constant slice with an inexact mean, or overflows a sum.</summary>
    public static readonly double[] ConstantValues = [0.1, -7.3, 1.0 / 3, 1e30, -1e30, 3.0e38, 1e-30, 5];

    /// <summary>
    /// A Float64 tensor of <paramref name="shape"/> (rank at least 1) whose slices along the last dimension are each
    /// one of <paramref name="kinds"/> (all when null), drawn independently; returns the kind of each slice so a test
    /// can compute its reference per slice. Constant slices draw from <see cref="ConstantValues"/> unless
    /// <paramref name="maxConstant"/> caps their magnitude (products and norms of 1e30 overflow).
    /// <code>TensorGen.EdgeSlices([3, 4], [SliceKind.OneZero, SliceKind.TwoZeros])</code>
    /// </summary>
    public static Gen<(Tensor Value, SliceKind[] Kinds)> EdgeSlices(int[] shape, SliceKind[]? kinds = null, double maxConstant = double.MaxValue)
    {
        if (shape.Length == 0 || shape[^1] == 0)
            throw new ArgumentException($"TensorGen.EdgeSlices: need rank >= 1 and a non-empty last dimension, got {Engine.Shapes.Format(shape)}");
        int length = shape[^1];
        int rows = checked((int)(Numel(shape) / length));
        var allowed = (kinds ?? Enum.GetValues<SliceKind>()).Where(k => k != SliceKind.TwoZeros || length >= 2).ToArray();
        if (allowed.Length == 0) throw new ArgumentException($"TensorGen.EdgeSlices: no kind fits slices of length {length}");
        var constants = ConstantValues.Where(v => Math.Abs(v) <= maxConstant).ToArray();
        return Gen.ArrayOf(Gen.Elements(allowed).SelectMany(kind => Slice(kind, length, constants).Select(v => (kind, v))), rows)
            .Select(slices => (Tensor.FromArray(slices.SelectMany(s => s.v).ToArray(), (int[])shape.Clone()), slices.Select(s => s.kind).ToArray()));
    }

    static Gen<double[]> Slice(SliceKind kind, int length, double[] constants)
    {
        var signedZero = Gen.Elements(0.0, -0.0);
        var random = Gen.Choose(1, Resolution - 1).Select(u => -2 + 4.0 * u / Resolution); // never exactly 0
        Gen<double[]> WithZerosAt(int count) =>
            from v in Gen.ArrayOf(random, length)
            from order in Gen.Shuffle(Enumerable.Range(0, length))
            from zeros in Gen.ArrayOf(signedZero, count)
            select Placed(v, order, zeros);
        return kind switch
        {
            SliceKind.Random => Gen.ArrayOf(random, length),
            SliceKind.AllZero => Gen.ArrayOf(signedZero, length),
            SliceKind.Constant => Gen.Elements(constants).Select(c => Enumerable.Repeat(c, length).ToArray()),
            SliceKind.OneZero => WithZerosAt(1),
            SliceKind.TwoZeros => WithZerosAt(2),
            _ => Ties(length),
        };
    }

    static double[] Placed(double[] values, int[] order, double[] zeros)
    {
        for (int i = 0; i < zeros.Length; i++) values[order[i]] = zeros[i];
        return values;
    }

    /// <summary>
    /// Small integers (-2..2, so exact zeros and many ties) where the largest and the smallest value each occur at
    /// least twice when <paramref name="length"/> allows (length 1: one value; 2 and 3: one repeated value).
    /// </summary>
    public static Gen<double[]> Ties(int length) =>
        Gen.ArrayOf(Gen.Choose(-2, 2), length).SelectMany(v => Gen.Shuffle(Enumerable.Range(0, length)).Select(order =>
        {
            var values = v.Select(i => (double)i).ToArray();
            if (length < 4)
            {
                Array.Fill(values, values[0]);
                return values;
            }
            double max = values.Max(), min = values.Min();
            if (max == min) return values;
            // Two positions take the maximum and two others the minimum (shuffled so the ties fall anywhere).
            values[order[0]] = values[order[1]] = max;
            values[order[2]] = values[order[3]] = min;
            return values;
        }));

    /// <summary>
    /// Shapes of rank 1..<paramref name="maxRank"/> with at least one dimension of size 0 (and the others in
    /// 1..<paramref name="maxDim"/>): reductions over them have no elements, or produce no elements.
    /// </summary>
    public static Gen<int[]> EmptyShape(int maxRank = 3, int maxDim = 4) =>
        Shape(1, maxRank, maxDim).SelectMany(s => Gen.Choose(0, s.Length - 1).Select(zero =>
        {
            var shape = (int[])s.Clone();
            shape[zero] = 0;
            return shape;
        }));

    /// <summary>
    /// Float64 values of magnitude 1e30 up to float's maximum (3.4e38), of either sign, with exact ties at float's
    /// maximum: still finite in Float32, but their squares, sums and products overflow.
    /// </summary>
    public static Gen<Tensor> Huge(int[] shape) =>
        Gen.ArrayOf(Gen.Frequency(
                (3, Gen.Choose(0, Resolution - 1).SelectMany(u => Gen.Elements(1.0, -1.0).Select(sign => sign * Math.Pow(10, 30 + 8.5 * u / Resolution)))),
                (1, Gen.Elements((double)float.MaxValue, -(double)float.MaxValue))),
            checked((int)Numel(shape)))
            .Select(v => Tensor.FromArray(v, (int[])shape.Clone()));

    /// <summary>Float64 values drawn from +0.0, -0.0 and ±1 only: signed zeros everywhere, and ties between them.</summary>
    public static Gen<Tensor> SignedZeros(int[] shape) =>
        Gen.ArrayOf(Gen.Elements(0.0, -0.0, 0.0, -0.0, 1.0, -1.0), checked((int)Numel(shape)))
            .Select(v => Tensor.FromArray(v, (int[])shape.Clone()));
}

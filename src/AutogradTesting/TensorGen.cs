using FsCheck;
using FsCheck.Fluent;

namespace Engine.Autograd.Testing;

/// <summary>
/// FsCheck generators of shapes and Float64 tensors for property tests of gradients: random shapes, broadcastable
/// pairs, values kept away from the points where an op is not differentiable, and non-contiguous views.
/// Everything is drawn from FsCheck's own random source, so a failing case replays from FsCheck's seed.
/// <code>Prop.ForAll(TensorGen.Shape().SelectMany(s => TensorGen.Float64(s)).ToArbitrary(), x => ...)</code>
/// </summary>
public static partial class TensorGen
{
    const int Resolution = 1 << 30;

    /// <summary>
    /// Shapes of rank <paramref name="minRank"/>..<paramref name="maxRank"/> with every dimension in 1..<paramref name="maxDim"/>
    /// (size-1 dimensions included, which is where broadcasting and squeezing go wrong).
    /// <code>TensorGen.Shape(maxRank: 3).Sample(10)  // e.g. [], [4], [1,3], [2,1,5]</code>
    /// </summary>
    public static Gen<int[]> Shape(int minRank = 0, int maxRank = 4, int maxDim = 5)
    {
        if (minRank < 0 || maxRank < minRank || maxDim < 1)
            throw new ArgumentException($"TensorGen.Shape: need 0 <= minRank <= maxRank and maxDim >= 1, got {minRank}, {maxRank}, {maxDim}");
        return Gen.Choose(minRank, maxRank).SelectMany(rank => Gen.ArrayOf(Gen.Choose(1, maxDim), rank));
    }

    /// <summary>
    /// <see cref="Shape"/> as an <see cref="Arbitrary{T}"/> that shrinks towards lower rank and smaller dimensions.
    /// <code>Prop.ForAll(TensorGen.Shapes(maxRank: 2), s => ...)</code>
    /// </summary>
    public static Arbitrary<int[]> Shapes(int minRank = 0, int maxRank = 4, int maxDim = 5)
        => Arb.From(Shape(minRank, maxRank, maxDim), s => ShrinkShape(s, minRank));

    static IEnumerable<int[]> ShrinkShape(int[] shape, int minRank)
    {
        if (shape.Length > minRank)
            for (int d = 0; d < shape.Length; d++) yield return shape.Where((_, i) => i != d).ToArray();
        for (int d = 0; d < shape.Length; d++)
            if (shape[d] > 1)
            {
                var smaller = (int[])shape.Clone();
                smaller[d] = 1;
                yield return smaller;
            }
    }

    /// <summary>
    /// Two shapes that broadcast together: a random result shape, then each operand drops some leading dimensions
    /// and sets some others to 1.
    /// <code>TensorGen.BroadcastableShapes().Sample(1)  // e.g. ([2,1,4], [3,1])</code>
    /// </summary>
    public static Gen<(int[] A, int[] B)> BroadcastableShapes(int maxRank = 4, int maxDim = 5)
    {
        Gen<int[]> Operand(int[] full) =>
            Gen.Choose(0, full.Length).SelectMany(drop =>
                Gen.ArrayOf(Gen.Choose(0, 2), full.Length - drop).Select(ones =>
                    full.Skip(drop).Select((d, i) => ones[i] == 0 ? 1 : d).ToArray()));
        return Shape(0, maxRank, maxDim).SelectMany(full => Gen.Zip(Operand(full), Operand(full)));
    }

    /// <summary>
    /// A Float64 tensor of <paramref name="shape"/> with values uniform in [<paramref name="low"/>, <paramref name="high"/>).
    /// <code>TensorGen.Float64([2, 3], -1, 1)</code>
    /// </summary>
    public static Gen<Tensor> Float64(int[] shape, double low = -2, double high = 2)
        => Avoiding(shape, low, high, [], 0);

    /// <summary>
    /// Float64 tensors of random shapes (see <see cref="Shape"/>) with values in [<paramref name="low"/>, <paramref name="high"/>).
    /// <code>Prop.ForAll(TensorGen.Float64Tensors(maxRank: 2), x => ...)</code>
    /// </summary>
    public static Arbitrary<Tensor> Float64Tensors(int maxRank = 4, int maxDim = 5, double low = -2, double high = 2)
        => Shape(0, maxRank, maxDim).SelectMany(s => Float64(s, low, high)).ToArbitrary();

    /// <summary>
    /// Values in [<paramref name="low"/>, <paramref name="high"/>) at least <paramref name="margin"/> away from each of
    /// <paramref name="points"/>: the kinks of clamp (its bounds), relu and abs (0), a step function's jumps.
    /// Drawn uniformly from what is left of the interval.
    /// <code>TensorGen.Avoiding([4], -3, 3, points: [-1, 1], margin: 0.1)  // for Clamp(-1, 1)</code>
    /// </summary>
    public static Gen<Tensor> Avoiding(int[] shape, double low, double high, double[] points, double margin)
    {
        if (!(high > low)) throw new ArgumentException($"TensorGen: empty range [{low}, {high})");
        var allowed = AllowedIntervals(low, high, points, margin);
        double total = allowed.Sum(iv => iv.Hi - iv.Lo);
        if (total <= 0) throw new ArgumentException($"TensorGen: nothing of [{low}, {high}) is at least {margin} away from {string.Join(", ", points)}");
        int n = checked((int)Numel(shape));
        return Gen.ArrayOf(Gen.Choose(0, Resolution - 1), n).Select(us =>
        {
            var values = us.Select(u =>
            {
                double t = (double)u / Resolution * total;
                foreach (var (lo, hi) in allowed)
                {
                    if (t < hi - lo) return lo + t;
                    t -= hi - lo;
                }
                return allowed[^1].Hi - 1e-12;
            }).ToArray();
            return Tensor.FromArray(values, (int[])shape.Clone());
        });
    }

    static List<(double Lo, double Hi)> AllowedIntervals(double low, double high, double[] points, double margin)
    {
        var intervals = new List<(double Lo, double Hi)> { (low, high) };
        foreach (var p in points)
        {
            var next = new List<(double Lo, double Hi)>();
            foreach (var (lo, hi) in intervals)
            {
                if (p - margin > lo) next.Add((lo, Math.Min(hi, p - margin)));
                if (p + margin < hi) next.Add((Math.Max(lo, p + margin), hi));
            }
            intervals = next.Where(iv => iv.Hi > iv.Lo).ToList();
        }
        return intervals;
    }

    /// <summary>
    /// Values with |x| in [<paramref name="margin"/>, <paramref name="max"/>) and a random sign: away from the kink at 0
    /// of abs, relu, sign-like functions and the L1 norm.
    /// <code>TensorGen.AwayFromZero([3, 3], margin: 0.1)</code>
    /// </summary>
    public static Gen<Tensor> AwayFromZero(int[] shape, double margin = 0.1, double max = 2)
        => Avoiding(shape, -max, max, [0], margin);

    /// <summary>
    /// Strictly positive values in [<paramref name="low"/>, <paramref name="high"/>): bases of log, sqrt, rsqrt, pow and divisors.
    /// <code>TensorGen.Positive([4], 0.5, 2)</code>
    /// </summary>
    public static Gen<Tensor> Positive(int[] shape, double low = 0.5, double high = 2)
    {
        if (!(low > 0)) throw new ArgumentException($"TensorGen.Positive: low must be positive, got {low}");
        return Float64(shape, low, high);
    }

    /// <summary>
    /// Pairwise distinct values in [<paramref name="low"/>, <paramref name="high"/>), any two at least
    /// 0.2 (high - low) / numel apart, so that max, min, amax and maximum/minimum have no ties (where their
    /// gradient is split and finite differences disagree).
    /// <code>TensorGen.Distinct([2, 5])</code>
    /// </summary>
    public static Gen<Tensor> Distinct(int[] shape, double low = -2, double high = 2)
    {
        int n = checked((int)Numel(shape));
        double cell = (high - low) / Math.Max(n, 1);
        return Gen.Shuffle(Enumerable.Range(0, n)).SelectMany(order =>
            Gen.ArrayOf(Gen.Choose(0, Resolution - 1), n).Select(jitter =>
            {
                // Each value sits in the middle 80% of its own cell of width (high - low) / n.
                var values = order.Select((slot, i) => low + cell * (slot + 0.1 + 0.8 * jitter[i] / (double)Resolution)).ToArray();
                return Tensor.FromArray(values, (int[])shape.Clone());
            }));
    }

    /// <summary>
    /// Two tensors of one shape whose elements differ pairwise by at least <paramref name="gap"/> (for maximum/minimum
    /// of two tensors, which split the gradient on ties).
    /// <code>TensorGen.SeparatedPair([3, 2])</code>
    /// </summary>
    public static Gen<(Tensor A, Tensor B)> SeparatedPair(int[] shape, double gap = 0.1, double low = -2, double high = 2)
        => Gen.Zip(Float64(shape, low, high), AwayFromZero(shape, gap, Math.Max(gap * 2, (high - low) / 2)))
            .Select(p => (p.Item1, p.Item1 + p.Item2));

    /// <summary>
    /// A non-contiguous view of <paramref name="shape"/> read from a larger tensor: transposed, sliced with a step,
    /// narrowed at an offset, selected from a wider tensor, or (when <paramref name="allowExpand"/>) expanded from
    /// size-1 or missing dimensions, whose values repeat. Values of the base come from <paramref name="values"/>
    /// (default <see cref="Float64"/>); use <c>allowExpand: false</c> with <see cref="Distinct"/> values.
    /// <code>TensorGen.StridedView([3, 4]).Select(s => GradCheck.Check(x => s.View(x[0]).Exp(), [s.Base]))</code>
    /// </summary>
    public static Gen<StridedInput> StridedView(int[] shape, Func<int[], Gen<Tensor>>? values = null, bool allowExpand = true)
    {
        values ??= s => Float64(s);
        shape = (int[])shape.Clone();
        int rank = shape.Length;
        var kinds = new List<Gen<StridedInput>>();
        string target = Engine.Shapes.Format(shape);

        // Any rank: select one slice of a tensor with an extra leading dimension.
        kinds.Add(Gen.Zip(Gen.Choose(2, 3), Gen.Choose(0, 1)).SelectMany(p =>
        {
            var (count, index) = p;
            var baseShape = new[] { count }.Concat(shape).ToArray();
            return values(baseShape).Select(b => new StridedInput(b, t => t.Select(0, index), $"{Engine.Shapes.Format(baseShape)} select(0, {index}) -> {target}"));
        }));
        if (rank >= 1)
        {
            // A stepped slice along one dimension.
            kinds.Add(Gen.Zip(Gen.Choose(0, rank - 1), Gen.Choose(2, 3)).SelectMany(p => Gen.Choose(0, p.Item2 - 1).SelectMany(start =>
            {
                var (d, step) = p;
                var baseShape = (int[])shape.Clone();
                int end = start + (shape[d] - 1) * step + 1;
                baseShape[d] = end + 1;
                return values(baseShape).Select(b => new StridedInput(b, t => t.Slice(d, start, end, step),
                    $"{Engine.Shapes.Format(baseShape)} slice(dim {d}, {start}:{end}:{step}) -> {target}"));
            })));
            // A narrow at an offset (contiguous rows, but offset and gaps between them).
            kinds.Add(Gen.Zip(Gen.Choose(0, rank - 1), Gen.Choose(1, 2)).SelectMany(p =>
            {
                var (d, start) = p;
                var baseShape = (int[])shape.Clone();
                baseShape[d] += start + 1;
                return values(baseShape).Select(b => new StridedInput(b, t => t.Narrow(d, start, shape[d]),
                    $"{Engine.Shapes.Format(baseShape)} narrow(dim {d}, {start}, {shape[d]}) -> {target}"));
            }));
        }
        if (rank >= 2)
        {
            // A transpose of two dimensions.
            kinds.Add(Gen.Choose(0, rank - 2).SelectMany(i => Gen.Choose(i + 1, rank - 1).SelectMany(j =>
            {
                var baseShape = (int[])shape.Clone();
                (baseShape[i], baseShape[j]) = (baseShape[j], baseShape[i]);
                return values(baseShape).Select(b => new StridedInput(b, t => t.Transpose(i, j),
                    $"{Engine.Shapes.Format(baseShape)} transpose({i}, {j}) -> {target}"));
            })));
        }
        if (allowExpand && rank >= 1)
        {
            // An expansion: some dimensions of the base are 1 (or missing in front) and repeat with stride 0.
            kinds.Add(Gen.ArrayOf(Gen.Choose(0, 1), rank).SelectMany(ones => Gen.Choose(0, rank).SelectMany(drop =>
            {
                var baseShape = shape.Select((s, i) => ones[i] == 1 ? 1 : s).Skip(drop).ToArray();
                return values(baseShape).Select(b => new StridedInput(b, t => t.Expand(shape),
                    $"{Engine.Shapes.Format(baseShape)} expand -> {target}"));
            })));
        }
        return Gen.OneOf(kinds);
    }

    static long Numel(int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }
}

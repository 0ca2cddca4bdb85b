using Engine.Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Engine.Autograd.Tests;

/// <summary>Generators shared by the gradient property tests, built on <see cref="TensorGen"/>, sized to keep the suite fast.</summary>
static class Inputs
{
    /// <summary>Shapes of rank 0..3 with dimensions 1..4: at most 64 elements, so element-by-element checks stay cheap.</summary>
    public static Gen<int[]> SmallShape(int minRank = 0, int maxRank = 3) => TensorGen.Shape(minRank, maxRank, 4);

    /// <summary>
    /// An input of <paramref name="shape"/>: one time in three a plain contiguous tensor, otherwise a strided view of a
    /// larger one, so every op is also checked on non-contiguous inputs.
    /// </summary>
    public static Gen<StridedInput> Of(int[] shape, Func<int[], Gen<Tensor>>? values = null, bool allowExpand = true)
    {
        values ??= s => TensorGen.Float64(s);
        var plain = values(shape).Select(t => new StridedInput(t, x => x, $"{Engine.Shapes.Format(shape)} contiguous"));
        return Gen.Frequency((1, plain), (2, TensorGen.StridedView(shape, values, allowExpand)));
    }

    /// <summary>A small random shape and an input of it (see <see cref="Of"/>).</summary>
    public static Gen<StridedInput> Any(Func<int[], Gen<Tensor>>? values = null, bool allowExpand = true, int minRank = 0, int maxRank = 3)
        => SmallShape(minRank, maxRank).SelectMany(s => Of(s, values, allowExpand));

    /// <summary>A subset of the axes of a rank-<paramref name="rank"/> tensor (possibly empty).</summary>
    public static Gen<int[]> Axes(int rank)
        => Gen.ArrayOf(Gen.Choose(0, 1), rank).Select(pick => Enumerable.Range(0, rank).Where(i => pick[i] == 1).ToArray());

    /// <summary>Checks the gradient of <paramref name="op"/> applied to the view of the input.</summary>
    public static void CheckUnary(StridedInput input, Func<Tensor, Tensor> op, GradCheckOptions? options = null)
        => GradProperty.Check(x => op(input.View(x[0])), [input.Base], options);
}

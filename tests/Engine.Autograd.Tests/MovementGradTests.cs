using Engine.Autograd.Testing;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// forall shapes and (contiguous or strided) inputs, the gradient of every view or rearrangement is the adjoint
/// rearrangement of the output gradient, as finite differences confirm. A smooth op after the movement (Exp)
/// gives each output element a different weight.
/// </summary>
public class MovementGradTests
{
    static void ForAllInputs(Action<StridedInput> body, int minRank = 0, int maxRank = 3)
        => GradProperty.ForAll(Inputs.Any(minRank: minRank, maxRank: maxRank), body);

    [Fact]
    public void ReshapeViewAndFlatten_OfAnyInput_MatchFiniteDifferences()
        => ForAllInputs(input =>
        {
            int n = (int)input.Value.Numel;
            Inputs.CheckUnary(input, t => t.Reshape(-1).Exp());
            Inputs.CheckUnary(input, t => t.Flatten().Reshape(1, n, 1).Exp());
            Inputs.CheckUnary(input, t => t.Contiguous().View(n).Sin());
        });

    [Fact]
    public void SqueezeAndUnsqueeze_MatchFiniteDifferences()
        => ForAllInputs(input =>
        {
            Inputs.CheckUnary(input, t => t.Unsqueeze(0).Unsqueeze(-1).Squeeze().Exp());
            Inputs.CheckUnary(input, t => t.Rank == 0 ? t.Unsqueeze(0).Squeeze(0).Exp() : t.Squeeze(0).Exp());
        });

    [Fact]
    public void PermuteAndTranspose_ByRandomOrders_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 2).SelectMany(i => Gen.Shuffle(Enumerable.Range(0, i.Value.Rank)).Select(o => (i, o))), p =>
        {
            var (input, order) = p;
            Inputs.CheckUnary(input, t => t.Permute(order).Exp());
            Inputs.CheckUnary(input, t => t.Transpose(0, -1).MT.Exp());
        });

    [Fact]
    public void Expand_ToABroadcastShape_SumsTheGradientOverRepeats()
        => GradProperty.ForAll(TensorGen.BroadcastableShapes(3, 4).SelectMany(p => TensorGen.Float64(p.A).Select(a => (a, p.B))), p =>
        {
            var full = Shapes.Broadcast("test", p.a.Shape, p.B);
            GradProperty.Check(x => x[0].Expand(full).Exp(), [p.a]);
            // A new leading dimension makes every case a real expansion.
            GradProperty.Check(x => x[0].BroadcastTo([2, .. full]).Sin(), [p.a]);
        });

    [Fact]
    public void SliceWithStepAndNarrow_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(i => Gen.Zip(Gen.Choose(0, i.Value.Rank - 1), Gen.Zip(Gen.Choose(1, 3), Gen.Choose(0, 2)), (d, q) => (d, q.Item1, q.Item2)).Select(q => (i, q))), p =>
        {
            var (input, (d, step, start)) = p;
            int n = input.Value.Shape[d];
            Inputs.CheckUnary(input, t => t.Slice(d, Math.Min(start, n - 1), null, step).Exp());
            Inputs.CheckUnary(input, t => t.Slice(d, -n, n, step).Sin());
            Inputs.CheckUnary(input, t => t.Narrow(d, n - 1, 1).Exp());
        });

    [Fact]
    public void SelectAndIndexer_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(i => Gen.Choose(0, i.Value.Rank - 1).Select(d => (i, d))), p =>
        {
            var (input, d) = p;
            int n = input.Value.Shape[d];
            Inputs.CheckUnary(input, t => t.Select(d, n - 1).Exp() );
            Inputs.CheckUnary(input, t => t[0].Exp() + t.Select(0, -1).Sin());
        });

    [Fact]
    public void SplitAndChunk_PiecesWeightedDifferently_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(i => Gen.Choose(0, i.Value.Rank - 1).Select(d => (i, d))), p =>
        {
            var (input, d) = p;
            Tensor Weighted(Tensor[] parts, int dim) => Tensor.Concat(parts.Select((q, k) => q * (k + 1)).ToArray(), dim);
            Inputs.CheckUnary(input, t => Weighted(t.Split(2, d), d).Exp());
            Inputs.CheckUnary(input, t => Weighted(t.Chunk(3, d), d).Exp());
            int n = input.Value.Shape[d];
            Inputs.CheckUnary(input, t => Weighted(t.Split([n - n / 2, n / 2], d), d).Sin());
        });

    [Fact]
    public void Flip_OfRandomDimensions_MatchesFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(i => Inputs.Axes(i.Value.Rank).Select(a => (i, a))), p =>
            Inputs.CheckUnary(p.i, t => t.Flip(p.a).Exp() * Tensor.Arange(0, t.Numel, 1, DType.Float64).Reshape(t.Shape)));

    [Fact]
    public void EmbedSlice_IntoLargerZeros_MatchesFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(i => Gen.Zip(Gen.Choose(0, i.Value.Rank - 1), Gen.Zip(Gen.Choose(1, 3), Gen.Choose(0, 2)), (d, q) => (d, q.Item1, q.Item2)).Select(q => (i, q))), p =>
        {
            var (input, (d, step, start)) = p;
            var target = input.Value.Shape;
            target[d] = start + (target[d] - 1) * step + 1 + step;
            Inputs.CheckUnary(input, t => t.EmbedSlice(target, d, start, step).Exp());
        });

    [Fact]
    public void Pad_WithPositiveAndNegativeAmounts_MatchesFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(i => Gen.ArrayOf(Gen.Choose(-1, 2), 2 * Math.Min(i.Value.Rank, 2)).Select(pad => (i, pad))), p =>
        {
            var (input, pad) = p;
            var shape = input.Value.Shape;
            // A crop may not remove more than the dimension holds.
            for (int k = 0; k < pad.Length / 2; k++)
            {
                int size = shape[shape.Length - 1 - k];
                if (size + pad[2 * k] + pad[2 * k + 1] < 1) (pad[2 * k], pad[2 * k + 1]) = (0, 1);
            }
            Inputs.CheckUnary(input, t => t.Pad(pad, value: 0.5).Exp());
        });

    [Fact]
    public void ConcatAndStack_OfSeveralInputs_SplitTheGradientBack()
        => GradProperty.ForAll(Inputs.SmallShape(1, 3).SelectMany(s => Gen.Choose(0, s.Length - 1).SelectMany(d =>
        {
            var other = (int[])s.Clone();
            other[d] = s[d] % 3 + 1;
            return Gen.Zip(Gen.Zip(Inputs.Of(s), Inputs.Of(other)), Inputs.Of(s)).Select(q => (q, d));
        })), p =>
        {
            var (((a, b), c), d) = p;
            GradProperty.Check(x => Tensor.Concat([a.View(x[0]), b.View(x[1]), a.View(x[0]) * 2], d).Exp(), [a.Base, b.Base]);
            GradProperty.Check(x => Tensor.Stack([a.View(x[0]), c.View(x[1])], d + 1).Sin() + Tensor.Stack([c.View(x[1]), a.View(x[0])], 0).Sum(0).Unsqueeze(d + 1), [a.Base, c.Base]);
        });
}

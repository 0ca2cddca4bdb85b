using Engine.Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// forall shapes and random (repeating) indices, the gradients of gather, scatter-add, index-select and embedding
/// match finite differences: each routes the gradient back along the same indices.
/// </summary>
public class IndexingGradTests
{
    // An Int64 index tensor of `shape` with values in [0, bound).
    static Gen<Tensor> Index(int[] shape, int bound)
        => Gen.ArrayOf(Gen.Choose(0, bound - 1), shape.Aggregate(1, (a, b) => a * b))
            .Select(v => Tensor.FromArray(v.Select(i => (long)i).ToArray(), shape));

    // An input of rank 1..3, a dimension, and an index no larger than the input outside that dimension.
    static Gen<(StridedInput Input, int Dim, Tensor Index)> InputDimIndex()
        => Inputs.Any(minRank: 1).SelectMany(input =>
        {
            var shape = input.Value.Shape;
            return Gen.Choose(0, shape.Length - 1).SelectMany(d =>
                Gen.ArrayOf(Gen.Choose(1, 4), shape.Length).SelectMany(sizes =>
                {
                    var indexShape = shape.Select((s, i) => i == d ? sizes[i] : Math.Min(s, sizes[i])).ToArray();
                    return Index(indexShape, shape[d]).Select(idx => (input, d, idx));
                }));
        });

    [Fact]
    public void Gather_WithRepeatedIndices_MatchesFiniteDifferences()
        => GradProperty.ForAll(InputDimIndex(), p => Inputs.CheckUnary(p.Input, t => t.Gather(p.Dim, p.Index).Exp()));

    [Fact]
    public void ScatterAdd_IntoInputFromSource_MatchesFiniteDifferencesInBoth()
        => GradProperty.ForAll(InputDimIndex().SelectMany(p =>
            {
                // The source may be larger than the index; only its indexed corner is added.
                var sourceShape = p.Index.Shape.Select(s => s + 1).ToArray();
                return Inputs.Of(sourceShape).Select(source => (p.Input, p.Dim, p.Index, source));
            }), p =>
            {
                var (self, d, index, source) = p;
                GradProperty.Check(x => self.View(x[0]).ScatterAdd(d, index, source.View(x[1])).Exp(), [self.Base, source.Base]);
            });

    [Fact]
    public void IndexSelect_WithRepeatedIndices_SumsTheGradientOfRepeats()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(input =>
            Gen.Choose(0, input.Value.Rank - 1).SelectMany(d =>
                Gen.Choose(1, 5).SelectMany(k => Index([k], input.Value.Shape[d])).Select(idx => (input, d, idx)))), p =>
            Inputs.CheckUnary(p.input, t => t.IndexSelect(p.d, p.idx).Exp()));

    [Fact]
    public void IndexAdd_WithRepeatedIndices_MatchesFiniteDifferencesInInputAndSource()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(input =>
            Gen.Choose(0, input.Value.Rank - 1).SelectMany(d =>
                Gen.Choose(1, 5).SelectMany(k => Index([k], input.Value.Shape[d])).Select(idx => (input, d, idx)))), p =>
        {
            var sourceShape = p.input.Value.Shape;
            sourceShape[p.d] = p.idx.Size(0);
            var source = Tensor.Randn(sourceShape, dtype: DType.Float64, generator: new Generator((ulong)sourceShape.Sum()));
            GradProperty.Check(t => t[0].IndexAdd(p.d, p.idx, t[1]).Sin(), [p.input.Value, source]);
        });

    [Fact]
    public void Embedding_OfIdBatches_MatchesFiniteDifferences()
        => GradProperty.ForAll(Gen.Zip(Gen.Choose(1, 5), Gen.Choose(1, 4)).SelectMany(vd =>
            Gen.Zip(Inputs.Of([vd.Item1, vd.Item2]), TensorGen.Shape(1, 2, 3).SelectMany(s => Index(s, vd.Item1)))), p =>
            Inputs.CheckUnary(p.Item1, table => table.Embedding(p.Item2).Sin()));

    [Fact]
    public void RollTrilAndTriu_ComposedFromPrimitives_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(minRank: 2), input =>
        {
            Inputs.CheckUnary(input, t => t.Roll(1, -1).Exp() * Tensor.Arange(0, t.Numel, 1, DType.Float64).Reshape(t.Shape));
            Inputs.CheckUnary(input, t => t.Tril().Exp() + t.Triu(1).Sin());
        });
}

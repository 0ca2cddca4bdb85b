using Engine.Recording;

namespace Engine;

// Indexing, joining and rearranging: gather/scatter, index_select, embedding, one_hot, concat, stack, pad, roll, flip, tril/triu.
public sealed partial class Tensor
{
    Tensor AsIndex(string op)
    {
        Require(DType is DType.Int64 or DType.Int32, $"{op}: indices must be Int64 or Int32, got {DType.Name()}");
        return To(DType.Int64);
    }

    /// <summary>result[i][j][k] = this[i][index[i][j][k]][k] for dim = 1 (torch.gather); result has the index's shape.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        int d = Shapes.NormalizeAxis("Gather", dim, Rank);
        RequireSameDevice("Gather", this, index);
        Require(index.Rank == Rank, $"Gather: index {Shapes.Format(index._shape)} must have the same rank as the input {Shapes.Format(_shape)}");
        for (int i = 0; i < Rank; i++)
            Require(i == d || index._shape[i] <= _shape[i], $"Gather: index {Shapes.Format(index._shape)} is larger than the input {Shapes.Format(_shape)} in dimension {i}");
        var idx = index.AsIndex("Gather");
        var result = Empty(idx._shape, DType, Backend);
        Backend.Gather(Strided, d, idx.Strided, result.Strided);
        return result.Record(OpKind.Gather, [this], new() { Dim = d, Index = idx, Shape = Shape });
    }

    /// <summary>A copy of this tensor with source added at the indexed positions along dim (torch.scatter_add).</summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor source)
    {
        int d = Shapes.NormalizeAxis("ScatterAdd", dim, Rank);
        RequireSameDevice("ScatterAdd", this, index);
        RequireSameDevice("ScatterAdd", this, source);
        Require(index.Rank == Rank && source.Rank == Rank, $"ScatterAdd: index {Shapes.Format(index._shape)} and source {Shapes.Format(source._shape)} must have the rank of the input {Shapes.Format(_shape)}");
        for (int i = 0; i < Rank; i++)
        {
            Require(index._shape[i] <= source._shape[i], $"ScatterAdd: index {Shapes.Format(index._shape)} is larger than source {Shapes.Format(source._shape)} in dimension {i}");
            Require(i == d || index._shape[i] <= _shape[i], $"ScatterAdd: index {Shapes.Format(index._shape)} is larger than the input {Shapes.Format(_shape)} in dimension {i}");
        }
        var result = Empty(_shape, DType, Backend);
        Backend.Copy(Strided, result.Strided);
        var (idx, src) = (index.AsIndex("ScatterAdd"), source.To(DType));
        Backend.ScatterAdd(result.Strided, d, idx.Strided, src.Strided);
        return result.Record(OpKind.ScatterAdd, [this, src], new() { Dim = d, Index = idx });
    }

    /// <summary>The slices along dim picked by a 1-D index tensor, in its order (torch.index_select).</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        int d = Shapes.NormalizeAxis("IndexSelect", dim, Rank);
        RequireSameDevice("IndexSelect", this, index);
        Require(index.Rank <= 1, $"IndexSelect: index must be 1-D, got {Shapes.Format(index._shape)}");
        var idx = index.AsIndex("IndexSelect").Reshape(-1);
        var shape = Shape;
        shape[d] = idx._shape[0];
        var result = Empty(shape, DType, Backend);
        Backend.IndexSelect(Strided, d, idx.Strided, result.Strided);
        return result.Record(OpKind.IndexSelect, [this], new() { Dim = d, Index = idx, Shape = Shape });
    }

    /// <summary>
    /// A copy of this tensor with source's slice i added to the slice index[i] along dim (torch.index_add);
    /// repeated indices accumulate. The adjoint of <see cref="IndexSelect"/>.
    /// </summary>
    public Tensor IndexAdd(int dim, Tensor index, Tensor source)
    {
        int d = Shapes.NormalizeAxis("IndexAdd", dim, Rank);
        RequireSameDevice("IndexAdd", this, index);
        RequireSameDevice("IndexAdd", this, source);
        Require(index.Rank <= 1, $"IndexAdd: index must be 1-D, got {Shapes.Format(index._shape)}");
        var idx = index.AsIndex("IndexAdd").Reshape(-1);
        Require(source.Rank == Rank && source._shape[d] == idx._shape[0] && Enumerable.Range(0, Rank).All(i => i == d || source._shape[i] == _shape[i]),
            $"IndexAdd: source {Shapes.Format(source._shape)} must match {Shapes.Format(_shape)} except in dimension {d}, which must equal the {idx._shape[0]} indices");
        var src = source.To(DType);
        var result = Empty(_shape, DType, Backend);
        Backend.Copy(Strided, result.Strided);
        Backend.IndexAdd(result.Strided, d, idx.Strided, src.Strided);
        return result.Record(OpKind.IndexAdd, [this, src], new() { Dim = d, Index = idx });
    }

    /// <summary>Rows of this [V, D] table for every id: ids of shape S give [..S, D] (torch.nn.functional.embedding).</summary>
    public Tensor Embedding(Tensor ids)
    {
        Require(Rank == 2, $"Embedding: the table must be [num_embeddings, dim], got {Shapes.Format(_shape)}");
        Tensor rows;
        try
        {
            rows = IndexSelect(0, ids.Reshape(-1));
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentOutOfRangeException(nameof(ids), $"Embedding: ids must be in [0, {_shape[0]}) for a table of {_shape[0]} rows ({e.Message.Split(" (Parameter")[0]})");
        }
        return rows.Reshape([.. ids._shape, _shape[1]]);
    }

    /// <summary>One-hot Int64 encoding with a new last dimension of size <paramref name="numClasses"/> (-1: max + 1).</summary>
    public Tensor OneHot(int numClasses = -1)
    {
        var idx = AsIndex("OneHot");
        if (numClasses < 0) numClasses = Numel == 0 ? 0 : (int)idx.Max().Item<long>() + 1;
        if (Numel > 0)
        {
            long lo = idx.Min().Item<long>(), hi = idx.Max().Item<long>();
            Require(lo >= 0 && hi < numClasses, $"OneHot: class values must be in [0, {numClasses}), got range [{lo}, {hi}]");
        }
        return idx.Unsqueeze(-1).Eq(Arange(numClasses, idx.Device)).To(DType.Int64);
    }

    /// <summary>Tensors joined along an existing dimension (torch.cat).</summary>
    public static Tensor Concat(Tensor[] tensors, int dim = 0)
    {
        Require(tensors.Length > 0, "Concat: needs at least one tensor");
        var first = tensors[0];
        int d = Shapes.NormalizeAxis("Concat", dim, first.Rank);
        var dtype = tensors.Select(t => t.DType).Aggregate(DTypes.Promote);
        long total = 0;
        foreach (var t in tensors)
        {
            RequireSameDevice("Concat", first, t);
            Require(t.Rank == first.Rank, $"Concat: tensors must have the same rank, got {Shapes.Format(first._shape)} and {Shapes.Format(t._shape)}");
            for (int i = 0; i < t.Rank; i++)
                Require(i == d || t._shape[i] == first._shape[i], $"Concat: shapes {Shapes.Format(first._shape)} and {Shapes.Format(t._shape)} differ in dimension {i} (only dimension {d} may differ)");
            total += t._shape[d];
        }
        Require(total <= int.MaxValue, $"Concat: dimension {d} would have {total} elements, more than one dimension holds ({int.MaxValue})");
        var shape = first.Shape;
        shape[d] = (int)total;
        var result = Empty(shape, dtype, first.Backend);
        var parts = tensors.Select(t => t.To(dtype)).ToArray();
        int at = 0;
        foreach (var t in parts)
        {
            var slot = result.Narrow(d, at, t._shape[d]);
            result.Backend.Copy(t.Strided, slot.Strided);
            at += t._shape[d];
        }
        return result.Record(OpKind.Concat, parts, new() { Dim = d, Shape = parts.Select(t => t._shape[d]).ToArray() });
    }

    /// <summary>Tensors of one shape joined along a new dimension (torch.stack).</summary>
    public static Tensor Stack(Tensor[] tensors, int dim = 0)
    {
        Require(tensors.Length > 0, "Stack: needs at least one tensor");
        foreach (var t in tensors)
            Require(t._shape.SequenceEqual(tensors[0]._shape), $"Stack: all tensors need the same shape, got {Shapes.Format(tensors[0]._shape)} and {Shapes.Format(t._shape)}");
        int d = Shapes.NormalizeAxis("Stack", dim, tensors[0].Rank + 1);
        return Concat(tensors.Select(t => t.Unsqueeze(d)).ToArray(), d);
    }

    /// <summary>
    /// Constant padding as torch.nn.functional.pad: <paramref name="padding"/> lists (before, after) pairs starting
    /// from the last dimension; negative amounts crop.
    /// </summary>
    public Tensor Pad(int[] padding, double value = 0)
    {
        Require(padding.Length % 2 == 0 && padding.Length / 2 <= Rank, $"Pad: padding {Shapes.Format(padding)} must hold (before, after) pairs for at most {Rank} dimensions");
        var shape = Shape;
        var source = this;
        var offsets = new int[Rank];
        for (int p = 0; p < padding.Length / 2; p++)
        {
            int d = Rank - 1 - p, before = padding[2 * p], after = padding[2 * p + 1];
            long size = (long)_shape[d] + before + after;
            Require(size >= 0 && size <= int.MaxValue,
                $"Pad: padding {Shapes.Format(padding)} makes dimension {d} of {Shapes.Format(_shape)} {size} long (valid: 0..{int.MaxValue})");
            shape[d] = (int)size;
            // Negative padding crops the source; positive padding offsets it inside the result.
            long cropStart = Math.Max(-(long)before, 0), cropEnd = Math.Max(-(long)after, 0);
            long kept = Math.Max(source._shape[d] - cropStart - cropEnd, 0);
            source = source.Narrow(d, (int)Math.Min(cropStart, source._shape[d]), (int)kept);
            offsets[d] = Math.Max(before, 0);
        }
        var result = Full(shape, value, DType, Device);
        var target = result;
        for (int d = 0; d < Rank; d++) target = target.Narrow(d, offsets[d], source._shape[d]);
        Backend.Copy(source.Strided, target.Strided);
        return result.Record(OpKind.Pad, [this], new() { Shape = (int[])padding.Clone() });
    }

    /// <summary>Elements shifted cyclically by <paramref name="shift"/> along one dimension (torch.roll).</summary>
    public Tensor Roll(int shift, int dim)
    {
        int d = Shapes.NormalizeAxis("Roll", dim, Rank);
        int n = _shape[d];
        if (n == 0) return Clone();
        int s = ((shift % n) + n) % n;
        if (s == 0) return Clone();
        return Concat([Narrow(d, n - s, s), Narrow(d, 0, n - s)], d);
    }

    /// <summary>Elements in reverse order along the given dimensions (a copy, as torch.flip).</summary>
    public Tensor Flip(params int[] dims)
    {
        var strides = Strides;
        long offset = Offset;
        foreach (var dim in dims)
        {
            int d = Shapes.NormalizeAxis("Flip", dim, Rank);
            if (_shape[d] == 0) continue;
            // A negative-stride view read once by the copy kernel; it never escapes this method.
            offset += (_shape[d] - 1) * strides[d];
            strides[d] = -strides[d];
        }
        var reversed = WithLayout(Shape, strides, offset);
        var result = Empty(_shape, DType, Backend);
        Backend.Copy(reversed.Strided, result.Strided);
        var axes = dims.Select(dim => Shapes.NormalizeAxis("Flip", dim, Rank)).ToArray();
        return result.Record(OpKind.Flip, [this], new() { Axes = axes });
    }

    /// <summary>Lower triangle of the last two dimensions: elements with column - row &lt;= diagonal are kept, others zeroed.</summary>
    public Tensor Tril(int diagonal = 0) => Triangle("Tril", diagonal, lower: true);

    /// <summary>Upper triangle of the last two dimensions: elements with column - row &gt;= diagonal are kept.</summary>
    public Tensor Triu(int diagonal = 0) => Triangle("Triu", diagonal, lower: false);

    Tensor Triangle(string op, int diagonal, bool lower)
    {
        Require(Rank >= 2, $"{op}: expects at least 2 dimensions, got {Shapes.Format(_shape)}");
        int rows = _shape[^2], cols = _shape[^1];
        var offset = Arange(cols, Device).Unsqueeze(0) - Arange(rows, Device).Unsqueeze(1); // column - row
        var keep = lower ? offset.Le(diagonal) : offset.Ge(diagonal);
        return Where(keep, this, Scalar(0, DType, Device));
    }
}

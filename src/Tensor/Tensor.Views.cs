using Engine.Recording;

namespace Engine;

// Views: new shape/strides/offset over the same storage, never a copy (Reshape copies only when it must).
public sealed partial class Tensor
{
    Tensor WithLayout(int[] shape, long[] strides, long offset) => new(Storage, shape, strides, offset);

    /// <summary>A view with a new shape; one dimension may be -1 (inferred). Throws when the strides do not allow a view.</summary>
    public Tensor View(params int[] shape)
    {
        var target = InferShape("View", shape);
        var strides = ViewStrides(target) ?? throw new InvalidOperationException(
            $"View: a tensor of shape {Shapes.Format(_shape)} with strides {Shapes.Format(_strides.Select(s => (int)s).ToArray())} cannot be viewed as {Shapes.Format(target)} without a copy; use Reshape");
        return WithLayout(target, strides, Offset).Record(OpKind.Reshape, [this], new() { Shape = Shape });
    }

    /// <summary>A tensor with a new shape (one dimension may be -1): a view when strides allow, otherwise a copy.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var target = InferShape("Reshape", shape);
        var strides = ViewStrides(target);
        return strides is not null
            ? WithLayout(target, strides, Offset).Record(OpKind.Reshape, [this], new() { Shape = Shape })
            : Contiguous().View(target);
    }

    int[] InferShape(string op, int[] shape)
    {
        var target = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            if (target[i] == -1)
            {
                Require(infer < 0, $"{op}: only one dimension can be -1, got {Shapes.Format(shape)}");
                infer = i;
            }
            else
            {
                Require(target[i] >= 0, $"{op}: invalid dimension {target[i]} in {Shapes.Format(shape)}");
                Require(target[i] == 0 || known <= long.MaxValue / target[i], $"{op}: shape {Shapes.Format(shape)} has more elements than a tensor can index");
                known *= target[i];
            }
        }
        if (infer >= 0)
        {
            Require(known != 0 && Numel % known == 0 && Numel / known <= int.MaxValue, $"{op}: shape {Shapes.Format(shape)} is invalid for a tensor of {Numel} elements {Shapes.Format(_shape)}");
            target[infer] = (int)(Numel / known);
        }
        Require(Shapes.Validate(op, target) == Numel, $"{op}: shape {Shapes.Format(shape)} is invalid for a tensor of {Numel} elements {Shapes.Format(_shape)}");
        return target;
    }

    // Strides for viewing this tensor as `target`, or null when a copy is needed (PyTorch's computeStride):
    // groups of old dimensions that are contiguous among themselves can be re-split freely.
    long[]? ViewStrides(int[] target)
    {
        var result = new long[target.Length];
        if (Numel == 0) return Shapes.ContiguousStrides(target);
        int oldRank = _shape.Length;
        int ti = target.Length - 1;
        long chunkBase = oldRank > 0 ? _strides[oldRank - 1] : 1;
        long tensorNumel = 1, viewNumel = 1;
        for (int ti0 = oldRank - 1; ti0 >= 0; ti0--)
        {
            tensorNumel *= _shape[ti0];
            // End of a contiguous chunk: the next-outer old dim is not laid out right after this one.
            if (ti0 == 0 || (_shape[ti0 - 1] != 1 && _strides[ti0 - 1] != tensorNumel * chunkBase))
            {
                while (ti >= 0 && (viewNumel < tensorNumel || target[ti] == 1))
                {
                    result[ti] = viewNumel * chunkBase;
                    viewNumel *= target[ti];
                    ti--;
                }
                if (viewNumel != tensorNumel) return null;
                if (ti0 > 0)
                {
                    chunkBase = _strides[ti0 - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        if (ti != -1)
        {
            // Remaining leading target dims are all 1.
            for (; ti >= 0; ti--)
            {
                if (target[ti] != 1) return null;
                result[ti] = 1;
            }
        }
        return result;
    }

    /// <summary>Dimensions reordered: result dimension i is this tensor's dimension order[i].</summary>
    public Tensor Permute(params int[] order)
    {
        Require(order.Length == Rank, $"Permute: order {Shapes.Format(order)} has {order.Length} entries for a tensor of rank {Rank} {Shapes.Format(_shape)}");
        var seen = new bool[Rank];
        var axes = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            axes[i] = Shapes.NormalizeAxis("Permute", order[i], Rank);
            Require(!seen[axes[i]], $"Permute: order {Shapes.Format(order)} repeats dimension {axes[i]}");
            seen[axes[i]] = true;
        }
        var v = Strided.Permute(axes);
        return WithLayout(v.Shape, v.Strides, Offset).Record(OpKind.Permute, [this], new() { Axes = axes });
    }

    /// <summary>Swaps two dimensions.</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = Shapes.NormalizeAxis("Transpose", dim0, Rank), b = Shapes.NormalizeAxis("Transpose", dim1, Rank);
        var order = Enumerable.Range(0, Rank).ToArray();
        (order[a], order[b]) = (order[b], order[a]);
        return Permute(order);
    }

    /// <summary>Transpose of a matrix (rank 2; rank 0 and 1 are returned unchanged, as in PyTorch).</summary>
    public Tensor T => Rank < 2 ? this : Rank == 2 ? Transpose(0, 1) : throw new InvalidOperationException($"T: expects rank <= 2, got {Shapes.Format(_shape)}; use MT or Permute");

    /// <summary>Transpose of the last two dimensions (batched matrices).</summary>
    public Tensor MT => Rank >= 2 ? Transpose(-2, -1) : throw new InvalidOperationException($"MT: expects rank >= 2, got {Shapes.Format(_shape)}");

    /// <summary>Elements start..start+length-1 of one dimension.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = Shapes.NormalizeAxis("Narrow", dim, Rank);
        if (start < 0) start += _shape[d];
        // In long: start + length overflows int for lengths near int.MaxValue and would pass the check.
        Require(start >= 0 && length >= 0 && (long)start + length <= _shape[d],
            $"Narrow: start {start} and length {length} exceed dimension {d} of size {_shape[d]} in {Shapes.Format(_shape)}");
        var shape = Shape;
        shape[d] = length;
        return WithLayout(shape, Strides, Offset + start * _strides[d])
            .Record(OpKind.Slice, [this], new() { Dim = d, Start = start, Step = 1, Shape = Shape });
    }

    /// <summary>Python-style slice start:end:step of one dimension (negative start/end count from the end; step positive).</summary>
    public Tensor Slice(int dim, int? start = null, int? end = null, int step = 1)
    {
        int d = Shapes.NormalizeAxis("Slice", dim, Rank);
        Require(step > 0, $"Slice: step must be positive, got {step}");
        int n = _shape[d];
        int s = Math.Clamp(start is int a ? (a < 0 ? a + n : a) : 0, 0, n);
        int e = Math.Clamp(end is int b ? (b < 0 ? b + n : b) : n, 0, n);
        int len = e > s ? (int)(((long)e - s + step - 1) / step) : 0;
        var shape = Shape;
        var strides = Strides;
        shape[d] = len;
        strides[d] *= step;
        return WithLayout(shape, strides, Offset + s * _strides[d])
            .Record(OpKind.Slice, [this], new() { Dim = d, Start = s, Step = step, Shape = Shape });
    }

    /// <summary>
    /// Zeros of <paramref name="shape"/> with this tensor written into the slice start, start+step, ... of one
    /// dimension: the adjoint of <see cref="Slice"/> (torch.slice_scatter into zeros). Autograd uses it for slice gradients.
    /// </summary>
    public Tensor EmbedSlice(int[] shape, int dim, int start, int step = 1)
    {
        Require(shape.Length == Rank, $"EmbedSlice: target {Shapes.Format(shape)} must have the rank of {Shapes.Format(_shape)}");
        int d = Shapes.NormalizeAxis("EmbedSlice", dim, Rank);
        int n = _shape[d];
        Require(step > 0 && start >= 0 && (n == 0 || start + (long)(n - 1) * step < shape[d]),
            $"EmbedSlice: {n} elements from {start} in steps of {step} do not fit dimension {d} of {Shapes.Format(shape)}");
        for (int i = 0; i < Rank; i++)
            Require(i == d || shape[i] == _shape[i], $"EmbedSlice: {Shapes.Format(_shape)} does not fit {Shapes.Format(shape)} outside dimension {d}");
        var result = Zeros(shape, DType, Device);
        var strides = result.Strides;
        strides[d] *= step;
        var slot = new Tensor(result.Storage, Shape, strides, start * result._strides[d]);
        Backend.Copy(Strided, slot.Strided);
        return result.Record(OpKind.EmbedSlice, [this], new() { Shape = (int[])shape.Clone(), Dim = d, Start = start, Step = step });
    }

    /// <summary>The slice at <paramref name="index"/> of one dimension, which is removed.</summary>
    public Tensor Select(int dim, int index)
    {
        int d = Shapes.NormalizeAxis("Select", dim, Rank);
        int n = _shape[d];
        Require(index >= -n && index < n, $"Select: index {index} is out of range for dimension {d} of size {n} in {Shapes.Format(_shape)}");
        if (index < 0) index += n;
        var shape = _shape.Where((_, i) => i != d).ToArray();
        var strides = _strides.Where((_, i) => i != d).ToArray();
        return WithLayout(shape, strides, Offset + index * _strides[d])
            .Record(OpKind.Select, [this], new() { Dim = d, Start = index, Shape = Shape });
    }

    /// <summary>Indexes leading dimensions: <c>t[1, 2]</c> is <c>t.Select(0, 1).Select(0, 2)</c>.</summary>
    [System.Runtime.CompilerServices.IndexerName("At")]
    public Tensor this[params int[] indices]
    {
        get
        {
            var t = this;
            foreach (var i in indices) t = t.Select(0, i);
            return t;
        }
    }

    /// <summary>A view broadcast to a larger shape (size-1 dims repeat with stride 0; -1 keeps a dimension).</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.AsSpan().SequenceEqual(_shape)) return this;
        Require(shape.Length >= Rank, $"Expand: cannot expand {Shapes.Format(_shape)} to fewer dimensions {Shapes.Format(shape)}");
        var newShape = new int[shape.Length];
        var newStrides = new long[shape.Length];
        int lead = shape.Length - Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            int src = i - lead;
            int have = src >= 0 ? _shape[src] : 1;
            int want = shape[i] == -1 && src >= 0 ? have : shape[i];
            Require(want >= 0, $"Expand: invalid size {shape[i]} at dimension {i} of {Shapes.Format(shape)}");
            if (src >= 0 && have == want)
            {
                newShape[i] = want;
                newStrides[i] = _strides[src];
            }
            else
            {
                Require(have == 1, $"Expand: cannot expand {Shapes.Format(_shape)} to {Shapes.Format(shape)}: dimension {i} is {have}, not 1");
                newShape[i] = want;
                newStrides[i] = 0;
            }
        }
        if (newShape.AsSpan().SequenceEqual(_shape)) return this;
        Shapes.Validate("Expand", newShape);
        return WithLayout(newShape, newStrides, Offset).Record(OpKind.Expand, [this], new() { Shape = Shape });
    }

    /// <summary>Same as <see cref="Expand"/>: a stride-0 view with the given shape (torch.broadcast_to).</summary>
    public Tensor BroadcastTo(params int[] shape) => Expand(shape);

    /// <summary>All size-1 dimensions removed.</summary>
    public Tensor Squeeze()
    {
        var keep = Enumerable.Range(0, Rank).Where(i => _shape[i] != 1).ToArray();
        return WithLayout(keep.Select(i => _shape[i]).ToArray(), keep.Select(i => _strides[i]).ToArray(), Offset)
            .Record(OpKind.Reshape, [this], new() { Shape = Shape });
    }

    /// <summary>One dimension removed if it has size 1 (otherwise unchanged, as in PyTorch).</summary>
    public Tensor Squeeze(int dim)
    {
        int d = Shapes.NormalizeAxis("Squeeze", dim, Rank);
        if (Rank == 0 || _shape[d] != 1) return this;
        return WithLayout(_shape.Where((_, i) => i != d).ToArray(), _strides.Where((_, i) => i != d).ToArray(), Offset)
            .Record(OpKind.Reshape, [this], new() { Shape = Shape });
    }

    /// <summary>A size-1 dimension inserted at <paramref name="dim"/> (in [-rank-1, rank]).</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = Shapes.NormalizeAxis("Unsqueeze", dim, Rank + 1);
        var shape = _shape.ToList();
        var strides = _strides.ToList();
        shape.Insert(d, 1);
        strides.Insert(d, d < Rank ? _strides[d] * _shape[d] : 1);
        return WithLayout(shape.ToArray(), strides.ToArray(), Offset).Record(OpKind.Reshape, [this], new() { Shape = Shape });
    }

    /// <summary>Dimensions start..end (inclusive) merged into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0) return Reshape(1);
        int s = Shapes.NormalizeAxis("Flatten", startDim, Rank), e = Shapes.NormalizeAxis("Flatten", endDim, Rank);
        Require(s <= e, $"Flatten: start dimension {startDim} comes after end dimension {endDim}");
        long merged = Shapes.Numel(_shape.AsSpan(s, e - s + 1));
        Require(merged <= int.MaxValue, $"Flatten: dimensions {s}..{e} of {Shapes.Format(_shape)} merge into {merged} elements, more than one dimension holds ({int.MaxValue})");
        var shape = new List<int>(_shape[..s]) { (int)merged };
        shape.AddRange(_shape[(e + 1)..]);
        return Reshape([.. shape]);
    }

    /// <summary>Views of consecutive pieces of one dimension with the given sizes (torch.split with a list).</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        int d = Shapes.NormalizeAxis("Split", dim, Rank);
        long total = sizes.Sum(size => (long)size);
        Require(sizes.All(size => size >= 0) && total == _shape[d], $"Split: sizes {Shapes.Format(sizes)} add up to {total}, but dimension {d} of {Shapes.Format(_shape)} has size {_shape[d]}");
        var parts = new Tensor[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Narrow(d, start, sizes[i]);
            start += sizes[i];
        }
        return parts;
    }

    /// <summary>Views of pieces of <paramref name="size"/> along one dimension; the last may be smaller.</summary>
    public Tensor[] Split(int size, int dim = 0)
    {
        Require(size > 0, $"Split: piece size must be positive, got {size}");
        int d = Shapes.NormalizeAxis("Split", dim, Rank);
        var sizes = new List<int>();
        for (int left = _shape[d]; left > 0; left -= size) sizes.Add(Math.Min(size, left));
        if (sizes.Count == 0) sizes.Add(0);
        return Split([.. sizes], d);
    }

    /// <summary><paramref name="chunks"/> views of (nearly) equal size along one dimension (torch.chunk).</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        Require(chunks > 0, $"Chunk: number of chunks must be positive, got {chunks}");
        int d = Shapes.NormalizeAxis("Chunk", dim, Rank);
        int size = (int)Math.Max(1, ((long)_shape[d] + chunks - 1) / chunks);
        return Split(size, d);
    }
}

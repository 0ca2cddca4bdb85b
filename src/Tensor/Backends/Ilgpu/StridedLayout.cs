namespace Engine.Backends.Ilgpu;

/// <summary>Eight sizes or strides, right-aligned (a rank-3 tensor uses D5..D7); a fixed-size kernel parameter.</summary>
public struct Dims8
{
    /// <summary>The eight entries, D7 being the innermost (last) dimension.</summary>
    public long D0, D1, D2, D3, D4, D5, D6, D7;
    /// <summary>Number of entries in use (the rest are padding), so index arithmetic can stop early.</summary>
    public int Rank;

    /// <summary>Right-aligns <paramref name="values"/>, padding the leading slots with <paramref name="pad"/>.</summary>
    internal static Dims8 From(IReadOnlyList<long> values, long pad)
    {
        if (values.Count > 8) throw new NotSupportedException($"ILGPU kernels take at most 8 dimensions after merging, got {values.Count}");
        Span<long> v = stackalloc long[8];
        v.Fill(pad);
        for (int i = 0; i < values.Count; i++) v[8 - values.Count + i] = values[i];
        return new Dims8 { D0 = v[0], D1 = v[1], D2 = v[2], D3 = v[3], D4 = v[4], D5 = v[5], D6 = v[6], D7 = v[7], Rank = values.Count };
    }

    /// <summary>Product of the eight entries (the element count when these are sizes).</summary>
    internal readonly long Product => D0 * D1 * D2 * D3 * D4 * D5 * D6 * D7;
}

/// <summary>One operand's element strides and offset over a shared <see cref="Dims8"/> shape.</summary>
public struct View8
{
    /// <summary>Element stride of each dimension (0 where broadcast).</summary>
    public Dims8 Strides;
    /// <summary>Element offset of the first element in the storage.</summary>
    public long Offset;

    /// <summary>Storage index of the <paramref name="i"/>-th element in row-major order of <paramref name="n"/>.</summary>
    public readonly long At(long i, Dims8 n)
    {
        // Most views merge to one or two dimensions; stopping at the shape's rank skips the 64-bit divisions
        // (costly on GPUs) of the padding. The branch depends only on the shape, so a warp never diverges on it.
        long o = Offset, q = i;
        if (n.Rank <= 1) return o + q * Strides.D7;
        o += q % n.D7 * Strides.D7; q /= n.D7;
        if (n.Rank == 2) return o + q * Strides.D6;
        o += q % n.D6 * Strides.D6; q /= n.D6;
        if (n.Rank == 3) return o + q * Strides.D5;
        o += q % n.D5 * Strides.D5; q /= n.D5;
        if (n.Rank == 4) return o + q * Strides.D4;
        o += q % n.D4 * Strides.D4; q /= n.D4;
        o += q % n.D3 * Strides.D3; q /= n.D3;
        o += q % n.D2 * Strides.D2; q /= n.D2;
        o += q % n.D1 * Strides.D1; q /= n.D1;
        return o + q * Strides.D0;
    }
}

/// <summary>Host-side packing of shapes and strides into kernel parameters.</summary>
internal static class StridedLayout
{
    /// <summary>
    /// The shape and each operand's view, with size-1 dimensions dropped and neighbours merged where every operand
    /// is contiguous across them, so most tensors need one or two dimensions and any rank up to 8 merged fits.
    /// </summary>
    internal static (Dims8 Shape, View8[] Views) Pack(int[] shape, params (long[] Strides, long Offset)[] operands)
    {
        var dims = new List<long>();
        var strides = operands.Select(_ => new List<long>()).ToArray();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            bool merge = dims.Count > 0;
            for (int k = 0; k < operands.Length && merge; k++)
                merge = strides[k][^1] == operands[k].Strides[d] * shape[d];
            if (merge)
            {
                dims[^1] *= shape[d];
                for (int k = 0; k < operands.Length; k++) strides[k][^1] = operands[k].Strides[d];
            }
            else
            {
                dims.Add(shape[d]);
                for (int k = 0; k < operands.Length; k++) strides[k].Add(operands[k].Strides[d]);
            }
        }
        var views = new View8[operands.Length];
        for (int k = 0; k < operands.Length; k++) views[k] = new View8 { Strides = Dims8.From(strides[k], 0), Offset = operands[k].Offset };
        return (Dims8.From(dims, 1), views);
    }

    /// <summary>The packing above for views that all have <paramref name="shape"/>.</summary>
    internal static (Dims8 Shape, View8[] Views) Pack(int[] shape, params StridedView[] views)
        => Pack(shape, views.Select(v => (v.Strides, v.Offset)).ToArray());
}

namespace Engine.Backends.Cpu;

/// <summary>
/// Iteration plan for kernels over several views of one shape. Dimensions that are contiguous in every
/// operand are merged, size-1 dimensions dropped, and the innermost remaining dimension becomes a "row"
/// that a kernel processes in one call (with a span op when its strides are 0 or 1).
/// </summary>
internal sealed class StridedLoop
{
    readonly int[] _outerShape;
    readonly long[][] _outerStrides; // [operand][dim]
    readonly long[] _baseOffsets;

    /// <summary>Length of each row (the merged innermost dimension).</summary>
    public int RowLength { get; }

    /// <summary>Number of rows.</summary>
    public long Rows { get; }

    /// <summary>Element stride of each operand along a row.</summary>
    public long[] InnerStrides { get; }

    /// <summary>Number of operands.</summary>
    public int Operands => _baseOffsets.Length;

    public StridedLoop(int[] shape, params StridedView[] views)
    {
        int n = views.Length;
        _baseOffsets = new long[n];
        for (int o = 0; o < n; o++) _baseOffsets[o] = views[o].Offset;

        // Keep non-trivial dims, then merge an outer dim into the inner one when every operand allows it.
        var dims = new List<int>();
        var strides = new List<long[]>();
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            var s = new long[n];
            for (int o = 0; o < n; o++) s[o] = views[o].Strides[d];
            if (dims.Count > 0)
            {
                int last = dims.Count - 1;
                bool mergeable = true;
                for (int o = 0; o < n && mergeable; o++) mergeable = strides[last][o] == s[o] * shape[d];
                if (mergeable)
                {
                    dims[last] *= shape[d];
                    strides[last] = s;
                    continue;
                }
            }
            dims.Add(shape[d]);
            strides.Add(s);
        }
        if (shape.Contains(0))
        {
            RowLength = 0;
            Rows = 0;
            InnerStrides = new long[n];
            _outerShape = [];
            _outerStrides = new long[n][];
            for (int o = 0; o < n; o++) _outerStrides[o] = [];
            return;
        }
        if (dims.Count == 0)
        {
            dims.Add(1);
            strides.Add(new long[n]);
        }
        RowLength = dims[^1];
        InnerStrides = strides[^1];
        int outer = dims.Count - 1;
        _outerShape = dims.Take(outer).ToArray();
        _outerStrides = new long[n][];
        for (int o = 0; o < n; o++)
        {
            _outerStrides[o] = new long[outer];
            for (int d = 0; d < outer; d++) _outerStrides[o][d] = strides[d][o];
        }
        Rows = Shapes.Numel(_outerShape);
    }

    /// <summary>Start offsets of row <paramref name="row"/> for every operand, and the odometer position for <see cref="Next"/>.</summary>
    public void Seek(long row, Span<long> offsets, Span<int> counter)
    {
        for (int o = 0; o < offsets.Length; o++) offsets[o] = _baseOffsets[o];
        for (int d = _outerShape.Length - 1; d >= 0; d--)
        {
            int idx = (int)(row % _outerShape[d]);
            row /= _outerShape[d];
            counter[d] = idx;
            for (int o = 0; o < offsets.Length; o++) offsets[o] += idx * _outerStrides[o][d];
        }
    }

    /// <summary>Advances offsets and odometer to the next row.</summary>
    public void Next(Span<long> offsets, Span<int> counter)
    {
        for (int d = _outerShape.Length - 1; d >= 0; d--)
        {
            counter[d]++;
            for (int o = 0; o < offsets.Length; o++) offsets[o] += _outerStrides[o][d];
            if (counter[d] < _outerShape[d]) return;
            for (int o = 0; o < offsets.Length; o++) offsets[o] -= _outerShape[d] * _outerStrides[o][d];
            counter[d] = 0;
        }
    }

    /// <summary>
    /// Runs the kernel over every row, in parallel above the size threshold. A single long row is cut into
    /// column chunks so that it too runs in parallel. Each element is computed by exactly one call, so the
    /// result does not depend on the thread count.
    /// </summary>
    public void Run<TKernel>(TKernel kernel) where TKernel : struct, IRowKernel
    {
        if (Rows == 0 || RowLength == 0) return;
        long work = Rows * RowLength;
        if (Rows == 1 && CpuThreading.MaxThreads > 1 && work >= CpuThreading.ParallelThreshold)
        {
            // One long row: split its columns.
            var baseOffsets = _baseOffsets;
            var inner = InnerStrides;
            int len = RowLength;
            CpuThreading.For(len, work, (start, end) =>
            {
                Span<long> offs = stackalloc long[baseOffsets.Length];
                for (int o = 0; o < offs.Length; o++) offs[o] = baseOffsets[o] + start * inner[o];
                kernel.Row(offs, (int)(end - start), inner);
            });
            return;
        }
        CpuThreading.For(Rows, work, (start, end) =>
        {
            Span<long> offs = stackalloc long[Operands];
            Span<int> counter = stackalloc int[Math.Max(_outerShape.Length, 1)];
            Seek(start, offs, counter);
            for (long r = start; r < end; r++)
            {
                kernel.Row(offs, RowLength, InnerStrides);
                if (r + 1 < end) Next(offs, counter);
            }
        });
    }
}

/// <summary>A kernel that processes one row of a <see cref="StridedLoop"/>: operand start offsets, length, operand strides.</summary>
internal interface IRowKernel
{
    void Row(ReadOnlySpan<long> offsets, int length, ReadOnlySpan<long> strides);
}

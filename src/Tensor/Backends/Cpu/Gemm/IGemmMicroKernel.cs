namespace Engine.Backends.Cpu;

/// <summary>
/// A register-tiled micro-kernel; its cache blocking is derived from this machine's caches (<see cref="GemmBlocks{T, TKernel}"/>).
/// The packed driver is generic over this interface (static abstract members on a struct), so each ISA gets its own
/// fully specialised copy of the blocking loops with the kernel call inlined.
/// </summary>
internal unsafe interface IGemmMicroKernel<T> where T : unmanaged
{
    /// <summary>Rows of C per micro-tile (height of a packed A micro-panel).</summary>
    static abstract int MR { get; }
    /// <summary>Columns of C per micro-tile (width of a packed B micro-panel).</summary>
    static abstract int NR { get; }
    /// <summary>Whether the current hardware can run this kernel.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>
    /// C[0..MR, 0..NR] = alpha * (A_panel * B_panel) + beta * C (+ <paramref name="rowBias"/>[j] in column j of every row,
    /// added last and rounded on its own; null for none), over <paramref name="kc"/> steps of the packed panels.
    /// </summary>
    static abstract void Run(int kc, T* a, T* b, T* c, long ldc, T alpha, T beta, T* rowBias);

    /// <summary>Whether <see cref="RunInPlaceA"/> is implemented.</summary>
    static abstract bool ReadsAInPlace { get; }

    /// <summary>
    /// <see cref="Run"/> with A read where it lies instead of from a packed panel: A(i, p) = a[i rsA + p csA] for MR rows,
    /// either rows <paramref name="rsA"/> apart with unit column stride (<paramref name="csA"/> 1: a row-major A,
    /// whose packing is a transposing copy: a Linear's input, the backward's output gradient), or MR contiguous
    /// values per k step, csA apart (rsA 1: a column-major A, such as the transposed output gradient of a weight's
    /// gradient; a packed panel is the case csA = MR). Each packing was a twelfth to an eighth of a training step.
    /// </summary>
    static abstract void RunInPlaceA(int kc, T* a, long rsA, long csA, T* b, T* c, long ldc, T alpha, T beta, T* rowBias);
}

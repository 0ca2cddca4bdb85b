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
    /// C[0..MR, 0..NR] = alpha * (A_panel * B_panel) + beta * C, over <paramref name="kc"/> steps of the packed panels.
    /// </summary>
    static abstract void Run(int kc, T* a, T* b, T* c, long ldc, T alpha, T beta);

    /// <summary>Whether <see cref="RunRowMajorA"/> is implemented.</summary>
    static abstract bool ReadsRowMajorA { get; }

    /// <summary>
    /// <see cref="Run"/> with A read where it lies: MR rows <paramref name="lda"/> apart, each with unit column stride,
    /// instead of a packed panel. A row-major A then needs no transposing copy (the packing of a Linear's input and
    /// of the backward's output gradient, an eighth of MiniLM's and of a training step's time).
    /// </summary>
    static abstract void RunRowMajorA(int kc, T* a, long lda, T* b, T* c, long ldc, T alpha, T beta);
}

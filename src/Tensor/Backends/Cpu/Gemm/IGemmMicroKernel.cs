namespace Engine.Backends.Cpu;

/// <summary>
/// A register-tiled micro-kernel plus the cache blocking tuned for it. The packed driver is generic over
/// this interface (static abstract members on a struct), so each ISA gets its own fully specialised copy
/// of the blocking loops with the kernel call inlined.
/// </summary>
internal unsafe interface IGemmMicroKernel<T> where T : unmanaged
{
    /// <summary>Rows of C per micro-tile (height of a packed A micro-panel).</summary>
    static abstract int MR { get; }
    /// <summary>Columns of C per micro-tile (width of a packed B micro-panel).</summary>
    static abstract int NR { get; }
    /// <summary>Depth of a packed block: one A micro-panel and one B micro-panel should stay in L1.</summary>
    static abstract int KC { get; }
    /// <summary>Rows of a packed A block (MC x KC lives in L2); a multiple of MR.</summary>
    static abstract int MC { get; }
    /// <summary>Columns of a packed B block (KC x NC lives in L3); a multiple of NR.</summary>
    static abstract int NC { get; }
    /// <summary>Whether the current hardware can run this kernel.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>
    /// C[0..MR, 0..NR] = alpha * (A_panel * B_panel) + beta * C, over <paramref name="kc"/> steps of the packed panels.
    /// </summary>
    static abstract void Run(int kc, T* a, T* b, T* c, long ldc, T alpha, T beta);
}

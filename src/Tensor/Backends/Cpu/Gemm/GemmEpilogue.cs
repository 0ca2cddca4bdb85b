using System.Numerics;
using System.Runtime.InteropServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// What the GEMM applies to each finished tile of C while it is still in cache: an activation fused into the product,
/// so a Linear followed by GELU (BERT's feed-forward) makes no separate pass over its [tokens, 4 x width] output.
/// </summary>
internal enum GemmEpilogue
{
    /// <summary>C as computed.</summary>
    None,
    /// <summary>The exact (erf) GELU of every element (Float32 only; see <see cref="GeluErfFloat"/>).</summary>
    GeluErf,
}

internal static unsafe class GemmEpilogues
{
    /// <summary>Applies <paramref name="epilogue"/> to the rows x cols block of C at <paramref name="c"/> (rows <paramref name="ldc"/> apart).</summary>
    public static void Apply<T>(GemmEpilogue epilogue, int rows, int cols, T* c, long ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (epilogue == GemmEpilogue.None) return;
        if (typeof(T) != typeof(float)) throw new NotSupportedException($"Gemm: the {epilogue} epilogue is implemented for Float32 only");
        for (int i = 0; i < rows; i++)
        {
            var row = new Span<float>((float*)(c + i * ldc), cols);
            GeluErfFloat.Forward(row, row);
        }
    }
}

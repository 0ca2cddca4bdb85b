using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// How every micro-kernel stores a row of its tile (two vectors of accumulators), written once over the vector width:
/// alpha acc, plus beta C where beta is not 0 (fused, as <see cref="GemmSimd.Update{T}"/> rounds it; beta 0 never
/// reads C, which may hold NaN garbage), plus the row bias last, rounded on its own as the epilogue pass over the
/// stored tile that it replaces did (reloading a tile just stored cost 6-14% of a Linear's K = 128 product).
/// </summary>
internal static unsafe class GemmTileStore
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Row<T, TV, TOps>(T* c, TV acc0, TV acc1, TV alpha, TV beta, bool readC, T* rowBias)
        where T : unmanaged, IFloatingPointIeee754<T> where TV : struct where TOps : struct, IVectorOps<TV, T>
    {
        int w = TOps.Count;
        TV v0 = TOps.Multiply(alpha, acc0), v1 = TOps.Multiply(alpha, acc1);
        if (readC)
        {
            v0 = TOps.Fma(beta, TOps.Load(c), v0);
            v1 = TOps.Fma(beta, TOps.Load(c + w), v1);
        }
        if (rowBias != null)
        {
            v0 = TOps.Add(v0, TOps.Load(rowBias));
            v1 = TOps.Add(v1, TOps.Load(rowBias + w));
        }
        TOps.Store(v0, c);
        TOps.Store(v1, c + w);
    }
}

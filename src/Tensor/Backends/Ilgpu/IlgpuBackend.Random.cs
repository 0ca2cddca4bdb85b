using ILGPU;

namespace Engine.Backends.Ilgpu;

/// <summary>What one random fill draws: distribution, key, first counter and bounds.</summary>
public struct RandomDraw
{
    /// <summary>The <see cref="RandomKind"/> as an int.</summary>
    public int Kind;
    /// <summary>Philox key, and the counter of element 0.</summary>
    public ulong Seed, Offset;
    /// <summary>The distribution's parameters, as in <see cref="IBackend.Random"/>.</summary>
    public double A, B;
    /// <summary>For Float32 uniform draws: the largest float below (float)B, replacing draws that round up to B.</summary>
    public double BelowB;
    /// <summary>1 when the output is Float32 (so <see cref="BelowB"/> applies).</summary>
    public int IsFloat32;
}

public sealed partial class IlgpuBackend
{
    public void Random(RandomKind kind, ulong seed, ulong offset, StridedView y, double a, double b)
    {
        if (y.Numel == 0) return;
        var draw = new RandomDraw
        {
            Kind = (int)kind, Seed = seed, Offset = offset, A = a, B = b,
            BelowB = MathF.BitDecrement((float)b), IsFloat32 = y.Storage.DType == DType.Float32 ? 1 : 0,
        };
        switch (y.Storage.DType)
        {
            case DType.Float32: RandomTyped<float, F32>(y, draw); break;
            case DType.Float64: RandomTyped<double, F64>(y, draw); break;
            case DType.Int32: RandomTyped<int, I32>(y, draw); break;
            case DType.Int64: RandomTyped<long, I64>(y, draw); break;
            case DType.Bool: RandomTyped<byte, B8>(y, draw); break;
        }
    }

    void RandomTyped<T, TE>(StridedView y, RandomDraw draw) where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, ArrayView<T>, RandomDraw> k = RandomKernel<T, TE>;
        Load(k)(Extent(y.Numel), DataAt<T>(y), draw);
    });

    // Element i uses Philox counter offset + i, exactly as the CPU backend, so a seed gives the same numbers here.
    static void RandomKernel<T, TE>(Index1D i, ArrayView<T> y, RandomDraw d) where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        ulong counter = d.Offset + (ulong)(int)i;
        if (d.Kind == (int)RandomKind.Integer)
        {
            // Uniform integer in [low, high) by multiply-shift (Lemire), as the CPU's IntegerDraw.
            ulong range = (ulong)((long)d.B - (long)d.A);
            y[i] = e.FromLong((long)d.A + (long)MultiplyHigh(Philox.Bits64(d.Seed, counter), range));
            return;
        }
        double v = d.Kind == (int)RandomKind.Uniform ? d.A + (d.B - d.A) * Philox.Uniform(d.Seed, counter)
            : d.Kind == (int)RandomKind.Normal ? d.A + d.B * Philox.Normal(d.Seed, counter)
            : Philox.Uniform(d.Seed, counter) < d.A ? 1 : 0;
        T r = e.FromDouble(v);
        // Rounding to float can reach the open upper bound of a uniform; keep [a, b) half-open as the CPU does.
        if (d.IsFloat32 != 0 && d.Kind == (int)RandomKind.Uniform && e.ToDouble(r) >= (float)d.B) r = e.FromDouble(d.BelowB);
        y[i] = r;
    }

    // High 64 bits of a 64x64-bit product from 32-bit halves (Math.BigMul is not available in kernels).
    static ulong MultiplyHigh(ulong a, ulong b)
    {
        ulong aLo = (uint)a, aHi = a >> 32, bLo = (uint)b, bHi = b >> 32;
        ulong lolo = aLo * bLo, hilo = aHi * bLo, lohi = aLo * bHi, hihi = aHi * bHi;
        ulong cross = (lolo >> 32) + (uint)hilo + lohi;
        return hihi + (hilo >> 32) + (cross >> 32);
    }
}

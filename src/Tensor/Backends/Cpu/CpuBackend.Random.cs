using Engine.Backends;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void Random(RandomKind kind, ulong seed, ulong offset, StridedView y, double a, double b)
    {
        // Element i always takes counter offset + i, so splitting the range over threads changes nothing.
        long n = y.Numel;
        int yo = (int)y.Offset;
        var storage = Cpu(y);
        var dtype = storage.DType;
        CpuThreading.For(n, n * 8, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                ulong counter = offset + (ulong)i;
                double v = kind switch
                {
                    RandomKind.Uniform => a + (b - a) * Philox.Uniform(seed, counter),
                    RandomKind.Normal => a + b * Philox.Normal(seed, counter),
                    RandomKind.Bernoulli => Philox.Uniform(seed, counter) < a ? 1 : 0,
                    _ => 0,
                };
                switch (dtype)
                {
                    case DType.Float32:
                        float f = (float)v;
                        // Rounding to float can reach the open upper bound of a uniform; keep [a, b) half-open.
                        if (kind == RandomKind.Uniform && f >= (float)b) f = MathF.BitDecrement((float)b);
                        storage.Array<float>()[yo + i] = f;
                        break;
                    case DType.Float64: storage.Array<double>()[yo + i] = v; break;
                    case DType.Int32: storage.Array<int>()[yo + i] = kind == RandomKind.Integer ? (int)IntegerDraw(seed, counter, a, b) : (int)v; break;
                    case DType.Int64: storage.Array<long>()[yo + i] = kind == RandomKind.Integer ? IntegerDraw(seed, counter, a, b) : (long)v; break;
                    case DType.Bool: storage.Array<byte>()[yo + i] = v != 0 ? (byte)1 : (byte)0; break;
                }
            }
        });
    }

    // Uniform integer in [low, high) by 128-bit multiply-shift (Lemire), bias below 2^-64 * range.
    static long IntegerDraw(ulong seed, ulong counter, double low, double high)
    {
        ulong range = (ulong)((long)high - (long)low);
        ulong hi = Math.BigMul(Philox.Bits64(seed, counter), range, out _);
        return (long)low + (long)hi;
    }
}

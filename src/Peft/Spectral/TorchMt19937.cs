namespace Engine.Peft.Spectral;

/// <summary>
/// The 32-bit Mersenne Twister of PyTorch's CPU generator (<c>at::mt19937</c>, Matsumoto and Nishimura 1998): seeded by
/// <c>init_genrand</c> with the low 32 bits of the seed, as <c>torch.Generator().manual_seed(seed)</c> does, so the
/// engine draws the numbers torch draws. Only what <see cref="TorchRandperm"/> needs: the raw 32-bit outputs.
/// </summary>
public sealed class TorchMt19937
{
    const int N = 624, M = 397;
    const uint MatrixA = 0x9908b0df, Upper = 0x80000000, Lower = 0x7fffffff;
    readonly uint[] _state = new uint[N];
    int _next = N;

    /// <summary>Seeds the state as torch's <c>manual_seed(seed)</c> (the seed's low 32 bits).</summary>
    public TorchMt19937(ulong seed)
    {
        _state[0] = (uint)seed;
        for (int j = 1; j < N; j++) _state[j] = 1812433253u * (_state[j - 1] ^ (_state[j - 1] >> 30)) + (uint)j;
    }

    /// <summary>The next 32-bit output (torch's <c>CPUGeneratorImpl::random()</c>).</summary>
    public uint Next()
    {
        if (_next >= N) Twist();
        uint y = _state[_next++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        return y ^ (y >> 18);
    }

    /// <summary>Two outputs as one 64-bit number, the first in the high half (torch's <c>random64()</c>).</summary>
    public ulong Next64()
    {
        ulong hi = Next();
        return (hi << 32) | Next();
    }

    void Twist()
    {
        for (int i = 0; i < N; i++)
        {
            uint y = (_state[i] & Upper) | (_state[(i + 1) % N] & Lower);
            _state[i] = _state[(i + M) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? MatrixA : 0);
        }
        _next = 0;
    }
}

using Engine.Backends.Cpu;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Tests.Gemm;

/// <summary>Laws that hold for every shape.</summary>
public class GemmProperties
{
    /// <summary>forall (m, n, k) and operand layouts, Gemm(A, B) == naive A B within the dot-product error bound.</summary>
    [Property(MaxTest = 60)]
    public Property Gemm_AnyShape_MatchesNaive(PositiveInt m, PositiveInt n, PositiveInt k, byte layouts, int seed)
    {
        int mm = 1 + (m.Get - 1) % 48, nn = 1 + (n.Get - 1) % 72, kk = 1 + (k.Get - 1) % 300;
        var g = GemmCase<float>.Create(mm, nn, kk, (Layout)(layouts % 4), (Layout)(layouts / 4 % 4), 1, 0, seed);
        g.AssertMatchesNaive(g.RunPublic(0));
        return true.ToProperty();
    }

    /// <summary>forall (m, n, k), the thread count never changes a single bit of the result.</summary>
    [Property(MaxTest = 30)]
    public Property Gemm_AnyShape_ThreadCountDoesNotChangeBits(PositiveInt m, PositiveInt n, PositiveInt k, int seed)
    {
        int mm = 1 + (m.Get - 1) % 200, nn = 1 + (n.Get - 1) % 200, kk = 1 + (k.Get - 1) % 200;
        var g = GemmCase<float>.Create(mm, nn, kk, Layout.RowMajor, Layout.Transposed, 1, 0, seed);
        return g.Run(PackedGemm.BestPath, true, 1).AsSpan().SequenceEqual(g.Run(PackedGemm.BestPath, true, 2)).ToProperty();
    }
}

using Engine.Nn.Checkpoints;
using Engine.Nn.Compression;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// The BitStack file: signs stored as U8 bytes and factors as F16, the dense tensors as they were, and a budget that
/// loads the longest prefix of the saved order with each weight rebuilt from exactly its first n_l blocks.
/// </summary>
public class BitStackFileTests
{
    static (string Path, BitStackWeight[] Weights, BitStackPlan Plan, Tensor Dense) Saved()
    {
        var weights = new[]
        {
            BitStackDecomposition.Decompose("a.weight", TestSupport.Randn(1, 8, 16), 3, 2),
            BitStackDecomposition.Decompose("b.weight", TestSupport.Randn(2, 16, 8), 3, 2),
        };
        var dense = TestSupport.Randn(3, 5);
        var plan = BitStackPlan.FromOrder([1, 0, 0, 1], weights.Select(w => w.BytesPerBlock).ToArray(), dense.Numel * 4);
        var path = Path.Combine(Directory.CreateTempSubdirectory("bitstack-file-").FullName, "m.safetensors");
        BitStackFile.Save(path, weights, plan, new Dictionary<string, Tensor> { ["norm.weight"] = dense }, new Dictionary<string, string> { ["note"] = "x" });
        return (path, weights, plan, dense);
    }

    [Fact]
    public void Save_StoresSignsAsBytesAndFactorsAsHalf()
    {
        var (path, weights, _, _) = Saved();
        using var file = Safetensors.Open(path);
        Assert.Equal("U8", file.Info("bitstack.a.weight.0.signs").DType);
        Assert.Equal(16, file.Info("bitstack.a.weight.0.signs").Numel);
        Assert.Equal("F16", file.Info("bitstack.a.weight.2.u").DType);
        Assert.Equal("F16", file.Info("bitstack.b.weight.1.vt").DType);
        Assert.Equal("F32", file.Info("dense.norm.weight").DType);
        Assert.True(BitStackFile.IsBitStack(path));
        // The stored bytes of the blocks are what the plan counts.
        long blockBytes = file.Names.Where(n => n.StartsWith("bitstack.")).Sum(n => file.Info(n).ByteLength);
        Assert.Equal(3 * weights.Sum(w => w.BytesPerBlock), blockBytes);
    }

    [Theory]
    [InlineData(0, 1, 1)]
    [InlineData(1, 1, 2)]
    [InlineData(3, 3, 2)]
    [InlineData(4, 3, 3)]
    public void LoadSteps_RebuildsEachWeightFromItsFirstBlocks(int steps, int countA, int countB)
    {
        var (path, weights, _, dense) = Saved();
        var loaded = BitStackFile.LoadSteps(path, steps);
        Assert.Equal(countA, loaded.Counts["a.weight"]);
        Assert.Equal(countB, loaded.Counts["b.weight"]);
        AssertClose(weights[0].Reconstruct(countA), loaded.State["a.weight"], 0);
        AssertClose(weights[1].Reconstruct(countB), loaded.State["b.weight"], 0);
        AssertClose(dense, loaded.State["norm.weight"], 0);
        Assert.Equal("x", loaded.Values["note"]);
    }

    [Fact]
    public void Load_Budget_PicksTheLargestPrefixUnderIt()
    {
        var (path, _, plan, _) = Saved();
        Assert.Equal(2, BitStackFile.Load(path, plan.CumulativeBytes[2] + 1).Steps);
        Assert.Equal(plan.CumulativeBytes[2], BitStackFile.Load(path, plan.CumulativeBytes[2] + 1).Bytes);
        Assert.Equal(4, BitStackFile.Load(path, long.MaxValue).Steps);
        Assert.Equal(4, BitStackFile.Load(path, null).Steps);
        Assert.Throws<ArgumentException>(() => BitStackFile.Load(path, plan.CumulativeBytes[0] - 1));
    }

    [Fact]
    public void Load_NotABitStackFile_IsNamedError()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("bitstack-file-").FullName, "plain.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2) });
        Assert.False(BitStackFile.IsBitStack(path));
        Assert.Contains("is not a BitStack file", Assert.Throws<InvalidDataException>(() => BitStackFile.Load(path, null)).Message);
    }
}

using Engine;
using Xunit;

namespace Engine.Tests;

public class SmokeTests
{
    [Fact]
    public void Add_BroadcastsRowVector()
    {
        var a = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        var b = Tensor.FromArray(new float[] { 10, 20, 30 });
        Assert.Equal(new float[] { 11, 22, 33, 14, 25, 36 }, (a + b).ToArray<float>());
    }
}

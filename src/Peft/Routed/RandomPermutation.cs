namespace Engine.Peft.Routed;

/// <summary>
/// A uniformly random permutation of 0..n-1 from the engine's <see cref="Generator"/> (the order of n uniform keys):
/// the randperm of FlyLoRA's sparse positions and of MoS's shard draws.
/// </summary>
public static class RandomPermutation
{
    /// <summary>A permutation of 0..<paramref name="n"/>-1.</summary>
    public static int[] Of(int n, Generator generator)
    {
        var keys = Tensor.Rand([n], 0, 1, DType.Float64, generator).ToArray<double>();
        var order = Enumerable.Range(0, n).ToArray();
        Array.Sort(keys, order);
        return order;
    }
}

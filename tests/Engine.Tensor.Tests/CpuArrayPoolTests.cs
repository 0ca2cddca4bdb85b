using System.Runtime.CompilerServices;
using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// The CPU backend reuses the arrays of large storages once they are collected: only then, only for the same element
/// type and length, never while a view still reaches the storage, and zeroed when a zeroed tensor asks for one.
/// Each test uses a length no other test allocates, so tests running in parallel cannot take its array.
/// </summary>
public class CpuArrayPoolTests
{
    static Array DataOf(Tensor t) => ((CpuStorage)t.Storage).Data;

    // Allocates, fills and drops a tensor in a frame of its own so nothing on this stack keeps it alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static WeakReference DropFilledTensor(int length, double value)
    {
        var t = Tensor.Full([length], value);
        return new WeakReference(DataOf(t), trackResurrection: true); // the array outlives its storage through a finalizer
    }

    static void CollectTwice()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [Fact]
    public void LargeArray_OfACollectedTensor_IsReusedForTheSameLength()
    {
        const int length = (int)(CpuArrayPool.MinBytes / sizeof(float)) + 101;
        var array = DropFilledTensor(length, 3.5);
        CollectTwice();
        var next = Tensor.Empty([length], DType.Float32, null, zeroed: false);
        Assert.True(array.IsAlive, "the pool should hold the array of the collected tensor");
        Assert.Same(array.Target, DataOf(next));
    }

    [Fact]
    public void ZeroedTensor_OnARecycledArray_IsAllZeros()
    {
        const int length = (int)(CpuArrayPool.MinBytes / sizeof(float)) + 102;
        var array = DropFilledTensor(length, 7.0);
        CollectTwice();
        var zeros = Tensor.Zeros([length]);
        Assert.Same(array.Target, DataOf(zeros));
        Assert.All(zeros.ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static Tensor ViewOfDroppedBase(int length)
    {
        var full = Tensor.Full([length], 2.0);
        return full.Narrow(0, 1, 3);
    }

    [Fact]
    public void View_KeepsItsStorageOutOfThePool()
    {
        const int length = (int)(CpuArrayPool.MinBytes / sizeof(float)) + 103;
        var view = ViewOfDroppedBase(length);
        CollectTwice();
        var other = Tensor.Full([length], -1.0);
        Assert.NotSame(DataOf(view), DataOf(other));
        Assert.Equal(new float[] { 2, 2, 2 }, view.ToArray<float>());
    }

    [Fact]
    public void SmallArrays_AreNotPooled()
    {
        Assert.False(CpuArrayPool.Pools(1000, sizeof(float)));
        Assert.True(CpuArrayPool.Pools(CpuArrayPool.MinBytes / sizeof(double), sizeof(double)));
    }

    [Fact]
    public void NegativeCapacity_IsRefusedWithItsValue()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => CpuArrayPool.Capacity = -1);
        Assert.Contains("-1", ex.Message);
        Assert.True(CpuArrayPool.Capacity > 0);
    }
}

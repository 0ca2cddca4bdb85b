using Xunit;

namespace Engine.Tests.Devices;

/// <summary>
/// The devices every device-parameterised test runs on: CPU and ILGPU's CPU accelerator always, CUDA GPUs when
/// <see cref="Device.Available"/> finds one (otherwise those cases are simply absent). The CPU backend is the
/// reference: each test computes on the CPU and on the device under test and compares.
/// </summary>
public static class TestDevices
{
    /// <summary>Device names as theory data (strings keep test cases distinct and readable in the runner).</summary>
    public static TheoryData<string> All
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var d in Device.Available())
                if (d.Kind != DeviceKind.OpenCL) data.Add(d.ToString());
            return data;
        }
    }

    /// <summary>The device a theory case names.</summary>
    public static Device Parse(string name) => Device.Available().First(d => d.ToString() == name);

    /// <summary>Same shape, dtype and (within <paramref name="tolerance"/>, relative to magnitude) values.</summary>
    public static void AssertClose(Tensor expected, Tensor actual, double tolerance = 1e-5)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.Equal(expected.DType, actual.DType);
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i])) { Assert.True(double.IsNaN(a[i]), $"element {i}: expected NaN, got {a[i]}"); continue; }
            Assert.True(Math.Abs(e[i] - a[i]) <= tolerance * Math.Max(1, Math.Abs(e[i])), $"element {i}: expected {e[i]}, got {a[i]}");
        }
    }
}

/// <summary>Device tests share accelerators and compile kernels; running them one at a time keeps that cheap and safe.</summary>
[CollectionDefinition("Devices", DisableParallelization = true)]
public sealed class DevicesCollection;

using Xunit;

namespace Engine.Tests;

/// <summary>
/// <see cref="TensorLimits.MaxTensorBytes"/> is process-wide, so this test runs alone: lowered to 1 KiB while other
/// tests ran, it once failed an unrelated 945-element allocation in CI.
/// </summary>
[Collection(ProcessWideSettingsCollection.Name)]
public class TensorLimitsTests
{
    [Fact]
    public void MaxTensorBytes_IsEnforcedBeforeAllocation_AndConfigurable()
    {
        long saved = TensorLimits.MaxTensorBytes;
        try
        {
            TensorLimits.MaxTensorBytes = 1024;
            Assert.Equal(256, Tensor.Zeros(256).Numel);
            var e = Assert.Throws<TensorSizeLimitException>(() => Tensor.Randn([257]));
            Assert.Equal(1028, e.Bytes);
            Assert.Equal(1024, e.LimitBytes);
            Assert.Contains("TensorLimits.MaxTensorBytes", e.Message);
        }
        finally
        {
            TensorLimits.MaxTensorBytes = saved;
        }
    }
}

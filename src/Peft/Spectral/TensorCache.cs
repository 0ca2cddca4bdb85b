using System.Collections.Concurrent;

namespace Engine.Peft.Spectral;

/// <summary>
/// Constant tensors a spectral layer derives from its configuration (positions, DFT matrices, circulant index maps),
/// built once per device and dtype on first use, so a model moved to another device (or dtype) finds them there
/// without saving them as buffers (PEFT's files do not hold them).
/// </summary>
public sealed class TensorCache
{
    readonly ConcurrentDictionary<(string Name, Device Device, DType DType), Tensor> _tensors = new();

    /// <summary>The tensor called <paramref name="name"/> on <paramref name="device"/> in <paramref name="dtype"/>, made by <paramref name="make"/> (on the CPU) the first time.</summary>
    public Tensor Get(string name, Device device, DType dtype, Func<Tensor> make) =>
        _tensors.GetOrAdd((name, device, dtype), key =>
        {
            using var _ = Autograd.Autograd.NoGrad();
            var t = make();
            if (t.DType != key.DType) t = t.To(key.DType);
            return t.Device == key.Device ? t : t.To(key.Device);
        });

    /// <summary>Forgets every tensor whose name starts with <paramref name="prefix"/> (an adapter's, when it is deleted).</summary>
    public void Remove(string prefix)
    {
        foreach (var key in _tensors.Keys.Where(k => k.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList()) _tensors.TryRemove(key, out _);
    }
}

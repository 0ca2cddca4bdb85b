using Xunit;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>Every tensor of a module's state dict as exact values, to assert that a failed operation changed nothing.</summary>
sealed class ModelSnapshot
{
    readonly Dictionary<string, double[]> _state;

    ModelSnapshot(Dictionary<string, double[]> state) => _state = state;

    /// <summary>Copies the values of every parameter and buffer of <paramref name="module"/>.</summary>
    public static ModelSnapshot Of(Module module) =>
        new(module.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray(), StringComparer.Ordinal));

    /// <summary>Same keys and bit-identical values (float to double is exact).</summary>
    public void AssertUnchanged(Module module)
    {
        var now = module.StateDict();
        Assert.Equal(_state.Keys.Order(StringComparer.Ordinal), now.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, values) in _state)
            Assert.True(values.AsSpan().SequenceEqual(now[key].ToDoubleArray()), $"state dict entry '{key}' changed");
    }
}

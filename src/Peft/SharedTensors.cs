namespace Engine.Peft;

/// <summary>
/// Tensors shared by every adapted layer of a method (VeRA's frozen random bases, NOLA's and MoS's pools), stored once
/// on the <see cref="PeftModel"/> (under <c>shared</c>) and referenced by the layers, never copied per layer.
/// Trainable ones are parameters, frozen ones buffers, so both appear in the state dict once.
/// </summary>
public sealed class SharedTensors : Module
{
    readonly Dictionary<string, Tensor> _byName = new();

    /// <summary>Stores <paramref name="value"/> under <paramref name="name"/> (no dots) and returns it.</summary>
    public Tensor Add(string name, Tensor value, bool trainable)
    {
        var t = trainable ? RegisterParameter(name, value) : RegisterBuffer(name, value);
        _byName[name] = t;
        return t;
    }

    /// <summary>True when a tensor named <paramref name="name"/> is stored.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The tensor stored under <paramref name="name"/> (the current one after <see cref="Module.To(Engine.Device)"/> or <see cref="Module.To(Engine.DType)"/>).</summary>
    public Tensor this[string name] => FindParameter(name)
        ?? NamedBuffers().FirstOrDefault(b => b.Name == name).Buffer
        ?? throw new KeyNotFoundException($"SharedTensors: nothing stored under '{name}'");
}

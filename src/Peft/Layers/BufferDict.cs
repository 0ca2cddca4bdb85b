namespace Engine.Peft;

/// <summary>
/// Frozen tensors by adapter name (buffers: saved, never trained), the counterpart of <see cref="ParameterDict"/>:
/// the state-dict key of an entry is <c>&lt;dict&gt;.&lt;name&gt;</c>.
/// </summary>
public sealed class BufferDict : Module
{
    readonly List<string> _names = new();

    /// <summary>Registers <paramref name="value"/> as a buffer named <paramref name="name"/>.</summary>
    public Tensor Add(string name, Tensor value)
    {
        _names.Add(name);
        return RegisterBuffer(name, value);
    }

    /// <summary>The buffer named <paramref name="name"/> (the current one after a dtype or device move).</summary>
    public Tensor this[string name] => NamedBuffers().FirstOrDefault(b => b.Name == name).Buffer
        ?? throw new KeyNotFoundException($"BufferDict: no entry named '{name}'");

    /// <summary>Names in insertion order.</summary>
    public IReadOnlyList<string> Keys => _names;

    /// <summary>A copy without <paramref name="name"/> (modules cannot unregister members).</summary>
    public BufferDict Without(string name)
    {
        var copy = new BufferDict();
        foreach (var key in _names.Where(k => k != name)) copy.Add(key, this[key]);
        return copy;
    }
}

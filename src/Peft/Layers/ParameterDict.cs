namespace Engine.Peft;

/// <summary>
/// Parameters by adapter name (torch.nn.ParameterDict): the state-dict key of an entry is <c>&lt;dict&gt;.&lt;name&gt;</c>
/// with no <c>.weight</c>, as PEFT's AdaLoRA stores <c>lora_A</c>, <c>lora_E</c>, <c>lora_B</c>.
/// </summary>
public sealed class ParameterDict : Module
{
    readonly List<string> _names = new();

    /// <summary>Registers <paramref name="value"/> as a parameter named <paramref name="name"/>.</summary>
    public Tensor Add(string name, Tensor value)
    {
        _names.Add(name);
        return RegisterParameter(name, value);
    }

    /// <summary>The parameter named <paramref name="name"/>.</summary>
    public Tensor this[string name] => GetParameter(name);

    /// <summary>Names in insertion order.</summary>
    public IReadOnlyList<string> Keys => _names;

    /// <summary>A copy without <paramref name="name"/> (modules cannot unregister members).</summary>
    public ParameterDict Without(string name) => Rebuilt(name, null);

    /// <summary>A copy whose entry <paramref name="name"/> is <paramref name="value"/> (a new shape, say).</summary>
    public ParameterDict With(string name, Tensor value) => Rebuilt(name, value);

    ParameterDict Rebuilt(string name, Tensor? replacement)
    {
        var copy = new ParameterDict();
        foreach (var key in _names)
        {
            if (key != name) { var t = this[key]; bool g = t.RequiresGrad; copy.Add(key, t).RequiresGrad = g; }
            else if (replacement is not null) copy.Add(key, replacement);
        }
        if (replacement is not null && !_names.Contains(name)) copy.Add(name, replacement);
        return copy;
    }
}

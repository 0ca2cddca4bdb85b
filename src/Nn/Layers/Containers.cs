namespace Engine.Nn;

/// <summary>Modules applied one after another; children are named "0", "1", ...</summary>
public sealed class Sequential : Module
{
    readonly List<Module> _layers = new();

    public Sequential(params Module[] layers)
    {
        foreach (var layer in layers) Add(layer);
    }

    public Sequential Add(Module layer)
    {
        RegisterModule(_layers.Count.ToString(), layer);
        _layers.Add(layer);
        return this;
    }

    public int Count => _layers.Count;
    public Module this[int index] => _layers[index];

    public override Tensor Forward(Tensor x)
    {
        foreach (var layer in _layers) x = layer.Forward(x);
        return x;
    }
}

/// <summary>An indexable list of sub-modules named "0", "1", ... (torch.nn.ModuleList).</summary>
public sealed class ModuleList<T> : Module where T : Module
{
    readonly List<T> _items = new();

    public ModuleList(IEnumerable<T>? items = null)
    {
        foreach (var item in items ?? []) Add(item);
    }

    public void Add(T item)
    {
        RegisterModule(_items.Count.ToString(), item);
        _items.Add(item);
    }

    public int Count => _items.Count;
    public T this[int index] => _items[index];
    public IEnumerable<T> Items => _items;
}

/// <summary>Sub-modules by name (torch.nn.ModuleDict).</summary>
public sealed class ModuleDict<T> : Module where T : Module
{
    readonly Dictionary<string, T> _items = new();

    public void Add(string name, T item)
    {
        RegisterModule(name, item);
        _items[name] = item;
    }

    public T this[string name] => _items.TryGetValue(name, out var m) ? m : throw new KeyNotFoundException($"ModuleDict: no module named '{name}'");
    public IEnumerable<string> Keys => _items.Keys;
}

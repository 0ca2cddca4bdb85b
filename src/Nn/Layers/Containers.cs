namespace Engine.Nn;

/// <summary>
/// Modules applied one after another; children are named "0", "1", ... The layers are read from the registry, so a
/// layer replaced by <see cref="Module.ReplaceModule"/> (an adapter's wrapper) is the one that runs.
/// </summary>
public sealed class Sequential : Module
{
    /// <summary>The layers in order.</summary>
    public Sequential(params Module[] layers)
    {
        foreach (var layer in layers) Add(layer);
    }

    /// <summary>Appends a layer, named by its index.</summary>
    public Sequential Add(Module layer)
    {
        RegisterModule(Count.ToString(), layer);
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => Children().Count();

    /// <summary>The layer registered at <paramref name="index"/> (a wrapper when one replaced it).</summary>
    public Module this[int index] => Child(index.ToString());

    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        foreach (var (_, layer) in Children()) x = layer.Forward(x);
        return x;
    }
}

/// <summary>
/// An indexable list of sub-modules named "0", "1", ... (torch.nn.ModuleList). The indexer looks through wrappers (<see cref="Module.Unwrapped{T}"/>) to the typed item.
/// </summary>
public sealed class ModuleList<T> : Module where T : Module
{
    int _count;

    /// <summary>A list holding <paramref name="items"/>.</summary>
    public ModuleList(IEnumerable<T>? items = null)
    {
        foreach (var item in items ?? []) Add(item);
    }

    /// <summary>Appends an item, named by its index.</summary>
    public void Add(T item)
    {
        RegisterModule(_count.ToString(), item);
        _count++;
    }

    /// <summary>Number of items.</summary>
    public int Count => _count;

    /// <summary>The item at <paramref name="index"/>, looking through any wrapper registered in its place.</summary>
    public T this[int index] => Unwrapped<T>(index.ToString());

    /// <summary>The items in order.</summary>
    public IEnumerable<T> Items => Enumerable.Range(0, _count).Select(i => this[i]);
}

/// <summary>Sub-modules by name (torch.nn.ModuleDict).</summary>
public sealed class ModuleDict<T> : Module where T : Module
{
    readonly List<string> _keys = new();

    /// <summary>Registers <paramref name="item"/> under <paramref name="name"/>.</summary>
    public void Add(string name, T item)
    {
        RegisterModule(name, item);
        _keys.Add(name);
    }

    /// <summary>The item named <paramref name="name"/>, looking through any wrapper registered in its place.</summary>
    public T this[string name] => _keys.Contains(name) ? Unwrapped<T>(name) : throw new KeyNotFoundException($"ModuleDict: no module named '{name}'");

    /// <summary>The names, in the order they were added.</summary>
    public IEnumerable<string> Keys => _keys;
}

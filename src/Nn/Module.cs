using Engine.Autograd;

namespace Engine.Nn;

/// <summary>
/// Base of every layer and model, like torch.nn.Module: named parameters, buffers and sub-modules registered in
/// order, dotted names for checkpoints (<c>blocks.0.attn.qkv.weight</c>), train/eval mode and freezing.
/// </summary>
public abstract class Module
{
    List<(string Name, Tensor Tensor)> _parameters = new();
    List<(string Name, Tensor Tensor)> _buffers = new();
    List<(string Name, Module Module)> _children = new();

    /// <summary>True in training mode (dropout active), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Applies the module to one input. Modules with other inputs define their own Forward and leave this unsupported.</summary>
    public virtual Tensor Forward(Tensor input) =>
        throw new NotSupportedException($"{GetType().Name} does not take a single tensor input; call its own Forward overload");

    /// <summary>Registers a trainable tensor under <paramref name="name"/> and marks it as requiring grad.</summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckName(name);
        value.RequiresGrad = true;
        _parameters.Add((name, value));
        return value;
    }

    /// <summary>Registers a non-trainable tensor that is saved in the state dict (e.g. a fixed random basis).</summary>
    protected Tensor RegisterBuffer(string name, Tensor value)
    {
        CheckName(name);
        _buffers.Add((name, value));
        return value;
    }

    /// <summary>Registers a sub-module under <paramref name="name"/>.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        return module;
    }

    /// <summary>Replaces a registered sub-module (used by adapters that wrap a layer in place).</summary>
    public void ReplaceModule(string name, Module module)
    {
        int i = _children.FindIndex(c => c.Name == name);
        if (i < 0) throw new KeyNotFoundException($"ReplaceModule: {GetType().Name} has no sub-module named '{name}'");
        _children[i] = (name, module);
    }

    void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{GetType().Name}: '{name}' is not a valid member name (non-empty, no dots)");
        if (_parameters.Any(p => p.Name == name) || _buffers.Any(b => b.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: a member named '{name}' is already registered");
    }

    /// <summary>
    /// The sub-module currently registered under <paramref name="name"/>. Forward passes call their children through
    /// this, not through fields, so that a module swapped in by <see cref="ReplaceModule"/> (an adapter) takes effect.
    /// </summary>
    protected Module Child(string name)
    {
        foreach (var (n, m) in _children) if (n == name) return m;
        throw new KeyNotFoundException($"{GetType().Name}: no sub-module named '{name}'");
    }

    /// <summary>
    /// The sub-module registered under <paramref name="name"/>, looking through wrappers (<see cref="IModuleWrapper"/>)
    /// until a <typeparamref name="T"/>: typed accessors use it (a projection's weight), forward passes use
    /// <see cref="Child"/> so that the wrapper runs.
    /// </summary>
    protected internal T Unwrapped<T>(string name) where T : Module
    {
        var m = Child(name);
        while (m is not T && m is IModuleWrapper w) m = w.Wrapped;
        return m as T ?? throw new InvalidCastException($"{GetType().Name}: sub-module '{name}' is a {m.GetType().Name}, not a {typeof(T).Name}");
    }

    /// <summary>Direct sub-modules with their names.</summary>
    public IEnumerable<(string Name, Module Module)> Children() => _children;

    /// <summary>This module and every descendant, with dotted names ("" for this one).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
            foreach (var m in child.NamedModules(Join(prefix, name))) yield return m;
    }

    /// <summary>Every parameter with its dotted name, parameters of this module first, then sub-modules in order.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in _parameters) yield return (Join(prefix, name), p);
        foreach (var (name, child) in _children)
            foreach (var p in child.NamedParameters(Join(prefix, name))) yield return p;
    }

    /// <summary>Every buffer with its dotted name.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(string prefix = "")
    {
        foreach (var (name, b) in _buffers) yield return (Join(prefix, name), b);
        foreach (var (name, child) in _children)
            foreach (var b in child.NamedBuffers(Join(prefix, name))) yield return b;
    }

    /// <summary>Every parameter (each tensor once, even when shared by several modules).</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Parameter).Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>();

    /// <summary>Parameters that currently require grad.</summary>
    public IEnumerable<Tensor> TrainableParameters() => Parameters().Where(p => p.RequiresGrad);

    /// <summary>Number of parameter elements (each shared tensor counted once).</summary>
    public long ParameterCount(bool trainableOnly = false) => (trainableOnly ? TrainableParameters() : Parameters()).Sum(p => p.Numel);

    /// <summary>Parameters and buffers by dotted name (the same tensors, not copies), for checkpoints.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>();
        foreach (var (name, p) in NamedParameters()) state.TryAdd(name, p);
        foreach (var (name, b) in NamedBuffers()) state.TryAdd(name, b);
        return state;
    }

    /// <summary>
    /// Copies values into the parameters and buffers by name. With <paramref name="strict"/>, missing or unexpected
    /// names and shape mismatches throw and nothing is changed.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new KeyNotFoundException($"LoadStateDict: missing keys [{string.Join(", ", missing)}]; unexpected keys [{string.Join(", ", unexpected)}]");
        foreach (var (name, target) in own)
            if (state.TryGetValue(name, out var source) && !source.Shape.SequenceEqual(target.Shape))
                throw new ArgumentException($"LoadStateDict: '{name}' has shape {Shapes.Format(source.Shape)} in the state dict but {Shapes.Format(target.Shape)} in the model");
        using (Autograd.Autograd.NoGrad())
            foreach (var (name, target) in own)
                if (state.TryGetValue(name, out var source)) target.CopyFrom(source);
    }

    /// <summary>
    /// Makes the parameter at dotted <paramref name="path"/> (<c>blocks.2.attn.qkv.weight</c>) the tensor
    /// <paramref name="shared"/> itself, as assigning one <c>nn.Parameter</c> to two modules in PyTorch: both places then
    /// read and train one tensor, and autograd sums the gradients of every use (layer tying, Lan et al. 2020;
    /// Mixture-of-Recursions' shared block). <see cref="TensorAliases"/> reports the extra names, and checkpoints store the
    /// tensor once.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No parameter at <paramref name="path"/>.</exception>
    /// <exception cref="ArgumentException">The shapes or dtypes differ.</exception>
    public void TieParameter(string path, Tensor shared)
    {
        int dot = path.LastIndexOf('.');
        string modulePath = dot < 0 ? "" : path[..dot], name = path[(dot + 1)..];
        var owner = NamedModules().FirstOrDefault(m => m.Name == modulePath).Module;
        int i = owner?._parameters.FindIndex(p => p.Name == name) ?? -1;
        if (owner is null || i < 0) throw new KeyNotFoundException($"TieParameter: {GetType().Name} has no parameter '{path}'");
        var own = owner._parameters[i].Tensor;
        if (!own.Shape.SequenceEqual(shared.Shape) || own.DType != shared.DType)
            throw new ArgumentException($"TieParameter: '{path}' is {own.DType} {Shapes.Format(own.Shape)} but the shared tensor is {shared.DType} {Shapes.Format(shared.Shape)}");
        owner._parameters[i] = (name, shared);
    }

    /// <summary>
    /// Every parameter or buffer name that holds the same tensor as an earlier name (<see cref="TieParameter"/>), mapped
    /// to that first name in <see cref="StateDict"/> order: what a checkpoint needs to store a tied tensor once.
    /// </summary>
    public IReadOnlyDictionary<string, string> TensorAliases()
    {
        var first = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        var aliases = new Dictionary<string, string>();
        foreach (var (name, t) in NamedParameters().Concat(NamedBuffers()))
            if (!first.TryAdd(t, name)) aliases[name] = first[t];
        return aliases;
    }

    /// <summary>Training mode on (or off) for this module and all descendants.</summary>
    public Module Train(bool on = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = on;
        return this;
    }

    /// <summary>Evaluation mode: <c>Train(false)</c>.</summary>
    public Module Eval() => Train(false);

    /// <summary>Stops (or restarts) gradients for every parameter of this module and its descendants.</summary>
    public Module RequiresGrad(bool requires)
    {
        foreach (var p in Parameters()) p.RequiresGrad = requires;
        return this;
    }

    /// <summary>
    /// Converts every floating parameter and buffer of this module and its descendants to <paramref name="dtype"/>
    /// (e.g. Float64 for gradient checks). A tensor's storage cannot change dtype, so each one is replaced in the
    /// registry by a converted leaf; tensors shared by several modules stay shared. Layers must therefore read their
    /// tensors through the registry (<see cref="GetParameter"/>), as the built-in layers do, not cache them in fields.
    /// Gradients are dropped; <c>RequiresGrad</c> is kept. <c>model.To(DType.Float64)</c>
    /// </summary>
    public Module To(DType dtype) => ReplaceTensors(t => t.DType.IsFloating() && t.DType != dtype ? t.To(dtype) : t);

    /// <summary>
    /// Moves every parameter and buffer to <paramref name="device"/> (e.g. <c>Device.IlgpuCpu</c>, <c>Device.Cuda(0)</c>),
    /// like torch's <c>module.to(device)</c>; the same registry caveat as <see cref="To(DType)"/> applies.
    /// Inputs must then live on that device too (<c>ids.To(device)</c>).
    /// </summary>
    public Module To(Device device) => ReplaceTensors(t => t.Device == device ? t : t.To(device));

    // Swaps each registered tensor for convert(tensor), once per distinct tensor (tied tensors stay tied), keeping
    // RequiresGrad; the new tensors are leaves.
    Module ReplaceTensors(Func<Tensor, Tensor> convert)
    {
        var converted = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        Tensor Convert(Tensor t)
        {
            if (!converted.TryGetValue(t, out var c))
            {
                // Under no-grad the conversion is not recorded, so a converted tensor is a fresh leaf.
                using (Autograd.Autograd.NoGrad()) c = convert(t);
                if (!ReferenceEquals(c, t)) c.RequiresGrad = t.RequiresGrad;
                converted[t] = c;
            }
            return c;
        }
        foreach (var (_, m) in NamedModules())
        {
            for (int i = 0; i < m._parameters.Count; i++) m._parameters[i] = (m._parameters[i].Name, Convert(m._parameters[i].Tensor));
            for (int i = 0; i < m._buffers.Count; i++) m._buffers[i] = (m._buffers[i].Name, Convert(m._buffers[i].Tensor));
        }
        return this;
    }

    /// <summary>
    /// An independent copy of a module without sub-modules (a Linear, a norm, an embedding): same type and settings,
    /// its own copies of every parameter and buffer (RequiresGrad kept). PEFT's <c>modules_to_save</c> trains such
    /// copies so that the original stays as it was.
    /// </summary>
    /// <exception cref="NotSupportedException">The module has sub-modules (their cached references could not follow).</exception>
    public Module CopyLeaf()
    {
        if (_children.Count > 0)
            throw new NotSupportedException($"{GetType().Name}.CopyLeaf: the module has sub-modules ({string.Join(", ", _children.Select(c => c.Name))}); only layers without sub-modules can be copied");
        var copy = (Module)MemberwiseClone();
        // The registries are the only state shared by reference: give the copy its own lists and tensors.
        copy._parameters = _parameters.Select(p => (p.Name, CloneTensor(p.Tensor))).ToList();
        copy._buffers = _buffers.Select(b => (b.Name, CloneTensor(b.Tensor))).ToList();
        copy._children = new();
        return copy;

        static Tensor CloneTensor(Tensor t)
        {
            Tensor c;
            using (Autograd.Autograd.NoGrad()) c = t.Detach().Clone();
            c.RequiresGrad = t.RequiresGrad;
            return c;
        }
    }

    /// <summary>This module's own parameter named <paramref name="name"/> (the registry's current tensor).</summary>
    protected Tensor GetParameter(string name) => FindParameter(name)
        ?? throw new KeyNotFoundException($"{GetType().Name}: no parameter named '{name}'");

    /// <summary>This module's own parameter named <paramref name="name"/>, or null when it has none.</summary>
    protected Tensor? FindParameter(string name)
    {
        foreach (var (n, p) in _parameters) if (n == name) return p;
        return null;
    }

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad() => Parameters().ZeroGrad();

    static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;
}

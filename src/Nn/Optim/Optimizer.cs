namespace Engine.Nn;

/// <summary>
/// Base of the optimisers: parameter groups, per-parameter state tensors (momenta) kept by name so they can be
/// saved and restored, and <see cref="Step"/>, which updates parameters in place without recording.
/// </summary>
public abstract class Optimizer
{
    readonly Dictionary<Tensor, Dictionary<string, Tensor>> _state = new(ReferenceEqualityComparer.Instance);

    readonly List<ParamGroup> _groups;

    // Parameters of groups added mid-training, with the StepCount of their first update (PyTorch counts Adam's steps
    // per parameter from its first update; groups given at construction keep counting from the optimiser's start).
    readonly HashSet<Tensor> _added = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<Tensor, long> _firstUpdate = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup> groups)
    {
        _groups = groups.ToList();
        if (_groups.Count == 0 || _groups.All(g => g.Parameters.Count == 0))
            throw new ArgumentException($"{GetType().Name}: no parameters to optimise");
    }

    public IReadOnlyList<ParamGroup> Groups => _groups;

    /// <summary>
    /// Adds a group mid-training (PyTorch's <c>add_param_group</c>): methods that grow, such as IncreLoRA, register the
    /// tensors they create. Its parameters get state from their first update on. A parameter already in a group is
    /// refused, since two groups would update it twice.
    /// </summary>
    public void AddParamGroup(ParamGroup group)
    {
        var known = new HashSet<Tensor>(_groups.SelectMany(g => g.Parameters), ReferenceEqualityComparer.Instance);
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < group.Parameters.Count; i++)
            if (known.Contains(group.Parameters[i]) || !seen.Add(group.Parameters[i]))
                throw new ArgumentException($"{GetType().Name}.AddParamGroup: parameter {i} of group '{group.Name}' (shape {Shapes.Format(group.Parameters[i].Shape)}) is already optimised");
        _groups.Add(group);
        foreach (var p in group.Parameters) _added.Add(p);
    }

    /// <summary>
    /// How many updates <paramref name="parameter"/> has had, this one included (for bias corrections): the optimiser's
    /// <see cref="StepCount"/> for the groups it was built with, and the updates since its first one for a parameter of
    /// a group added by <see cref="AddParamGroup"/>, so that its moments start as a fresh parameter's (PyTorch's
    /// per-parameter <c>state['step']</c>).
    /// </summary>
    protected long StepsOf(Tensor parameter) => _firstUpdate.TryGetValue(parameter, out long first) ? StepCount - first + 1 : StepCount;

    /// <summary>
    /// One state slot of a parameter (Adam's <c>exp_avg</c>, SGD's <c>momentum_buffer</c>), live, or null before the
    /// parameter's first update: LoRA-MGPO reads the first moments to perturb the base weight.
    /// </summary>
    public Tensor? StateOf(Tensor parameter, string slot) =>
        _state.TryGetValue(parameter, out var s) && s.TryGetValue(slot, out var t) ? t : null;

    /// <summary>Number of steps taken.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Updates every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        using (Autograd.Autograd.NoGrad())
        {
            BeforeUpdates();
            foreach (var group in Groups)
                foreach (var p in group.Parameters)
                    if (p.Grad is not null)
                    {
                        if (_added.Contains(p)) _firstUpdate.TryAdd(p, StepCount);
                        Update(group, p, p.Grad, State(p));
                    }
        }
    }

    /// <summary>
    /// Runs once per <see cref="Step"/>, before any parameter's update, without recording: MARS clips its corrected
    /// gradients by their global norm, which needs every parameter's gradient first.
    /// </summary>
    protected virtual void BeforeUpdates() { }

    /// <summary>
    /// Shape of a state slot, checked by <see cref="LoadStateDict"/>: the parameter's own shape unless the optimiser
    /// keeps less (Adam-mini's one second moment per block).
    /// </summary>
    protected virtual int[] StateSlotShape(Tensor parameter, string slot) => parameter.Shape;

    /// <summary>The live state slots of a parameter (created empty on first use).</summary>
    protected Dictionary<string, Tensor> StateFor(Tensor parameter) => State(parameter);

    /// <summary>One parameter's update. <paramref name="state"/> persists across steps.</summary>
    protected abstract void Update(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state);

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var g in Groups)
            foreach (var p in g.Parameters) p.Grad = null;
    }

    Dictionary<string, Tensor> State(Tensor p)
    {
        if (!_state.TryGetValue(p, out var s)) _state[p] = s = new Dictionary<string, Tensor>();
        return s;
    }

    /// <summary>Optimiser state as named tensors: <c>{group}.{index}.{slot}</c>, plus the step count, for checkpoints.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var result = new Dictionary<string, Tensor> { ["step"] = Tensor.Scalar(StepCount, DType.Int64) };
        for (int g = 0; g < Groups.Count; g++)
            for (int i = 0; i < Groups[g].Parameters.Count; i++)
                if (_state.TryGetValue(Groups[g].Parameters[i], out var slots))
                    foreach (var (slot, t) in slots) result[$"{g}.{i}.{slot}"] = t;
        return result;
    }

    /// <summary>
    /// Restores what <see cref="StateDict"/> saved, for the same parameter layout. Every slot has its parameter's shape
    /// (a flat or transposed tensor with the right element count is refused, not silently reinterpreted); the whole
    /// dictionary is checked before anything changes, so a bad one leaves the optimiser as it was.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        string op = $"{GetType().Name}.LoadStateDict";
        long stepCount = 0;
        if (state.TryGetValue("step", out var step))
        {
            Tensor.Require(step.Numel == 1 && !step.DType.IsFloating() && step.Item() >= 0,
                $"{op}: 'step' must be one non-negative integer, got a {step.DType.Name()} tensor of shape {Shapes.Format(step.Shape)}");
            stepCount = (long)step.Item();
        }
        var slots = new List<(Tensor Parameter, string Slot, Tensor Value)>();
        foreach (var (key, t) in state)
        {
            if (key == "step") continue;
            var parts = key.Split('.');
            if (parts.Length != 3 || !int.TryParse(parts[0], out int g) || !int.TryParse(parts[1], out int i) || g < 0 || i < 0 || g >= Groups.Count || i >= Groups[g].Parameters.Count)
                throw new ArgumentException($"{op}: '{key}' does not name a slot of this optimiser's parameters");
            var p = Groups[g].Parameters[i];
            var expected = StateSlotShape(p, parts[2]);
            Tensor.Require(t.Shape.AsSpan().SequenceEqual(expected) && t.DType == p.DType,
                $"{op}: '{key}' is a {t.DType.Name()} tensor of shape {Shapes.Format(t.Shape)}, but its slot is {p.DType.Name()} {Shapes.Format(expected)}");
            slots.Add((p, parts[2], t));
        }
        _state.Clear();
        StepCount = stepCount;
        foreach (var (p, slot, t) in slots) State(p)[slot] = t.Clone();
    }
}

namespace Engine.Nn;

/// <summary>
/// Base of the optimisers: parameter groups, per-parameter state tensors (momenta) kept by name so they can be
/// saved and restored, and <see cref="Step"/>, which updates parameters in place without recording.
/// </summary>
public abstract class Optimizer
{
    readonly Dictionary<Tensor, Dictionary<string, Tensor>> _state = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup> groups)
    {
        Groups = groups.ToList();
        if (Groups.Count == 0 || Groups.All(g => g.Parameters.Count == 0))
            throw new ArgumentException($"{GetType().Name}: no parameters to optimise");
    }

    public IReadOnlyList<ParamGroup> Groups { get; }

    /// <summary>Number of steps taken.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Updates every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        using (Autograd.Autograd.NoGrad())
            foreach (var group in Groups)
                foreach (var p in group.Parameters)
                    if (p.Grad is not null) Update(group, p, p.Grad, State(p));
    }

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

    /// <summary>Restores what <see cref="StateDict"/> saved, for the same parameter layout.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        _state.Clear();
        StepCount = state.TryGetValue("step", out var step) ? (long)step.Item() : 0;
        foreach (var (key, t) in state)
        {
            if (key == "step") continue;
            var parts = key.Split('.');
            if (parts.Length != 3 || !int.TryParse(parts[0], out int g) || !int.TryParse(parts[1], out int i) || g >= Groups.Count || i >= Groups[g].Parameters.Count)
                throw new ArgumentException($"{GetType().Name}.LoadStateDict: '{key}' does not name a slot of this optimiser's parameters");
            State(Groups[g].Parameters[i])[parts[2]] = t.Clone();
        }
    }
}

namespace Engine.Nn;

/// <summary>
/// The analysis tool of multilingual routing (Bandarkar et al. 2025, spec structure-and-optimizers.md 2.4; no code
/// released): attached to every <see cref="MoeFeedForward"/> of a model, it averages each layer's router distribution
/// and counts its chosen experts over the tokens run while a group (a language, a task) is current, so that two
/// groups' routing can be compared layer by layer with <see cref="JensenShannon"/> (the spec's metric choice, inferred).
/// <code>
/// using var recorder = RouterDistributionRecorder.Attach(model);
/// recorder.Group = "en"; model.Forward(english);
/// recorder.Group = "de"; model.Forward(german);
/// var perLayer = recorder.Divergence("en", "de");
/// </code>
/// </summary>
public sealed class RouterDistributionRecorder : IMoeRouterObserver, IDisposable
{
    readonly Dictionary<MoeFeedForward, string> _layers = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<(string Group, string Layer), (double[] Sum, long[] Chosen, long Tokens)> _totals = new();

    RouterDistributionRecorder() { }

    /// <summary>Observes every mixture-of-experts layer of <paramref name="model"/> (replacing their observers) until disposed.</summary>
    /// <exception cref="ArgumentException">The model has no <see cref="MoeFeedForward"/>.</exception>
    public static RouterDistributionRecorder Attach(Module model)
    {
        var recorder = new RouterDistributionRecorder();
        foreach (var (name, module) in model.NamedModules())
            if (module is MoeFeedForward moe)
            {
                recorder._layers[moe] = name;
                moe.Observer = recorder;
            }
        if (recorder._layers.Count == 0) throw new ArgumentException($"RouterDistributionRecorder.Attach: {model.GetType().Name} has no MoeFeedForward layer");
        return recorder;
    }

    /// <summary>The group the tokens of the next forward passes belong to.</summary>
    public string Group { get; set; } = "";

    /// <summary>The observed layers' names, in model order.</summary>
    public IReadOnlyList<string> Layers => _layers.Values.ToList();

    /// <inheritdoc/>
    public void Observe(MoeFeedForward layer, RouterDecision decision)
    {
        if (!_layers.TryGetValue(layer, out var name)) return;
        var key = (Group, name);
        var (sum, chosen, tokens) = _totals.TryGetValue(key, out var t) ? t : (new double[decision.Experts], new long[decision.Experts], 0L);
        for (int i = 0; i < decision.Probabilities.Length; i++) sum[i % decision.Experts] += decision.Probabilities[i];
        foreach (int e in decision.Choices) chosen[e]++;
        _totals[key] = (sum, chosen, tokens + decision.Tokens);
    }

    /// <summary>The mean router distribution of <paramref name="layer"/> over the tokens of <paramref name="group"/>.</summary>
    /// <exception cref="KeyNotFoundException">Nothing was recorded for that group and layer.</exception>
    public double[] MeanDistribution(string group, string layer)
    {
        var (sum, _, tokens) = Totals(group, layer);
        return sum.Select(s => s / tokens).ToArray();
    }

    /// <summary>How often each expert of <paramref name="layer"/> was among the top-k for the tokens of <paramref name="group"/>.</summary>
    public long[] ChosenCounts(string group, string layer) => (long[])Totals(group, layer).Chosen.Clone();

    /// <summary>Per observed layer, the Jensen–Shannon divergence between the two groups' mean distributions.</summary>
    public IReadOnlyDictionary<string, double> Divergence(string groupA, string groupB) =>
        Layers.ToDictionary(l => l, l => JensenShannon(MeanDistribution(groupA, l), MeanDistribution(groupB, l)));

    /// <summary>
    /// JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q) / 2, in nats: 0 for equal distributions, ln 2 for disjoint ones.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static double JensenShannon(IReadOnlyList<double> p, IReadOnlyList<double> q)
    {
        if (p.Count != q.Count) throw new ArgumentException($"JensenShannon: distributions of {p.Count} and {q.Count} entries");
        double js = 0;
        for (int i = 0; i < p.Count; i++)
        {
            double m = (p[i] + q[i]) / 2;
            if (p[i] > 0) js += 0.5 * p[i] * Math.Log(p[i] / m);
            if (q[i] > 0) js += 0.5 * q[i] * Math.Log(q[i] / m);
        }
        return js;
    }

    /// <summary>Detaches from the layers it observes.</summary>
    public void Dispose()
    {
        foreach (var layer in _layers.Keys) if (ReferenceEquals(layer.Observer, this)) layer.Observer = null;
    }

    (double[] Sum, long[] Chosen, long Tokens) Totals(string group, string layer) =>
        _totals.TryGetValue((group, layer), out var t) ? t
            : throw new KeyNotFoundException($"RouterDistributionRecorder: nothing recorded for group '{group}' at layer '{layer}' (layers: {string.Join(", ", Layers)})");
}

namespace Engine.Nn;

/// <summary>
/// The expert loads of every <see cref="MoeFeedForward"/> in a model after its last forward pass: each layer's share of
/// assignments per expert (1/E each when balanced) and its worst expert against uniform, the figure behind "every
/// expert's load within 2x of uniform" (<see cref="RouterDecision.MaxLoadOverUniform"/> ≤ 2).
/// <code>
/// model.Forward(batch);
/// foreach (var layer in MoeLoads.Of(model)) Console.WriteLine($"{layer.Name}: max/uniform {layer.MaxOverUniform:F2}");
/// </code>
/// </summary>
public static class MoeLoads
{
    /// <summary>One layer's loads: its module name, share per expert, dropped assignments and max load · E.</summary>
    public sealed record Layer(string Name, double[] Loads, int Dropped, double MaxOverUniform);

    /// <summary>The layers of <paramref name="model"/> that have routed at least once, in module order (a layer used at several depths reports its last use).</summary>
    public static IReadOnlyList<Layer> Of(Module model) =>
        model.NamedModules()
            .Where(m => m.Module is MoeFeedForward { LastDecision: not null })
            .Select(m =>
            {
                var d = ((MoeFeedForward)m.Module).LastDecision!;
                return new Layer(m.Name, d.Loads, d.Dropped, d.MaxLoadOverUniform);
            })
            .ToList();
}

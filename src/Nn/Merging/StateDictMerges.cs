namespace Engine.Nn.Merging;

/// <summary>
/// Every state-dict merge by name, as <c>engine merge --method</c> reads it. A new method is one line in
/// <see cref="All"/>: its name and how to build it from the shared <see cref="MergeOptions"/>.
/// <code>var ties = StateDictMerges.ByName("ties").Create(new MergeOptions(Density: 0.2));</code>
/// </summary>
public static class StateDictMerges
{
    /// <summary>A registered method: its name and its constructor.</summary>
    public sealed record Entry(string Name, Func<MergeOptions, IStateDictMerge> Create);

    /// <summary>The registered methods, in the order tables list them.</summary>
    public static IReadOnlyList<Entry> All { get; } =
    [
        new("task_arithmetic", o => new TaskArithmeticMerge(o)),
        new("ties", o => new TiesMerge(o)),
        new("dare_linear", o => new DareLinearMerge(o)),
        new("dare_ties", o => new DareTiesMerge(o)),
        new("magnitude_prune", o => new MagnitudePruneMerge(o)),
        new("pcb", o => new PcbMerge(o)),
        new("widen", _ => new WidenMerge()),
        new("varm", _ => new VarmMerge()),
        new("sce", o => new SceMerge(o)),
    ];

    /// <summary>The method called <paramref name="name"/> (exact, lower case).</summary>
    /// <exception cref="ArgumentException">No such method; the message lists the known names.</exception>
    public static Entry ByName(string name) => All.FirstOrDefault(e => e.Name == name)
        ?? throw new ArgumentException($"no merge method '{name}'; known: {string.Join(", ", All.Select(e => e.Name))}");
}

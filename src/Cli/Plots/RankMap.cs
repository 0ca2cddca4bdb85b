using Engine.Nn;
using Engine.Peft;

namespace Engine.Cli.Plots;

/// <summary>
/// The ranks an adaptive-rank adapter ended with, as a grid of layers x modules (a module path splits after its
/// first number: <c>blocks.0</c> x <c>attn.qkv</c>, <c>encoder.layer.3</c> x <c>attention.self.query</c>). Any method
/// whose configuration is an <see cref="IAdaptiveRankConfig"/> (AdaLoRA: the triplets it kept) gives each cell.
/// <code>if (RankMap.Of(peftModel) is { } map) RankMapPlot.Write(map, "ranks.svg");</code>
/// </summary>
/// <param name="Method">The method's name for the title.</param>
/// <param name="Layers">Row names, in model order.</param>
/// <param name="Modules">Column names, in model order.</param>
/// <param name="Ranks">[layer, module]: the final rank, or null where the module is not adapted in that layer.</param>
/// <param name="InitialRank">The rank every cell started with.</param>
/// <param name="TargetRank">The average rank the budget aims at.</param>
public sealed record RankMap(string Method, IReadOnlyList<string> Layers, IReadOnlyList<string> Modules, int?[,] Ranks, int InitialRank, int TargetRank)
{
    /// <summary>
    /// The rank map of the first adapter of <paramref name="model"/> whose rank adapts (AdaLoRA), or null when none
    /// does. <paramref name="model"/> is a <see cref="PeftModel"/> or a module that holds one.
    /// </summary>
    public static RankMap? Of(Module model)
    {
        var peft = model as PeftModel ?? model.NamedModules().Select(m => m.Module).OfType<PeftModel>().FirstOrDefault();
        if (peft is null) return null;
        foreach (var name in peft.AdapterNames)
        {
            if (peft.PeftConfigs[name] is not IAdaptiveRankConfig config) continue;
            var cells = new List<(string Layer, string Module, int Rank)>();
            foreach (var (path, layer) in peft.AdapterLayers())
            {
                if (!layer.AdapterNames.Contains(name)) continue;
                var modulePath = peft.PathOf(path);
                var (row, column) = Split(modulePath.External);
                cells.Add((row, column, config.RankOf(modulePath)));
            }
            if (cells.Count > 0) return FromCells(config.MethodName, cells, config.InitialRank, config.TargetRank);
        }
        return null;
    }

    /// <summary>A map from (layer, module, rank) cells, rows and columns in first-seen order.</summary>
    /// <exception cref="ArgumentException">A cell is given twice.</exception>
    public static RankMap FromCells(string method, IReadOnlyList<(string Layer, string Module, int Rank)> cells, int initialRank, int targetRank)
    {
        var layers = cells.Select(c => c.Layer).Distinct().ToList();
        var modules = cells.Select(c => c.Module).Distinct().ToList();
        var ranks = new int?[layers.Count, modules.Count];
        foreach (var (layer, module, rank) in cells)
        {
            int l = layers.IndexOf(layer), m = modules.IndexOf(module);
            if (ranks[l, m] is not null) throw new ArgumentException($"RankMap: cell {layer} x {module} is given twice");
            ranks[l, m] = rank;
        }
        return new RankMap(method, layers, modules, ranks, initialRank, targetRank);
    }

    /// <summary>
    /// A module path as (layer, module): split after the first all-digit segment (<c>blocks.0.attn.qkv</c> →
    /// <c>blocks.0</c>, <c>attn.qkv</c>); a path without one is a layer of its own named <c>model</c>.
    /// </summary>
    public static (string Layer, string Module) Split(string path)
    {
        var parts = path.Split('.');
        int index = Array.FindIndex(parts, p => p.Length > 0 && p.All(char.IsAsciiDigit));
        if (index < 0 || index == parts.Length - 1) return ("model", path);
        return (string.Join('.', parts[..(index + 1)]), string.Join('.', parts[(index + 1)..]));
    }

    /// <summary>The sum of the ranks of every adapted cell (the budget in use).</summary>
    public int TotalRank => Ranks.Cast<int?>().Sum(r => r ?? 0);

    /// <summary>The number of adapted cells.</summary>
    public int CellCount => Ranks.Cast<int?>().Count(r => r is not null);
}

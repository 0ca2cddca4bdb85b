namespace Engine.Cli.Plots;

/// <summary>
/// Where a command's pictures go: the loss curve, the rank map and the zoo chart (null: that picture is not written).
/// Each sits next to what the command writes (its checkpoint file or output folder), or in the current folder when
/// the command writes nothing.
/// </summary>
public sealed record PlotFiles(string? Loss, string? Ranks = null, string? Zoo = null)
{
    /// <summary>Beside a file: <c>names.safetensors</c> → <c>names.loss.svg</c>, <c>names.ranks.svg</c>.</summary>
    public static PlotFiles NextTo(string file)
    {
        string stem = Path.Combine(Path.GetDirectoryName(file) ?? "", Path.GetFileNameWithoutExtension(file));
        return new PlotFiles(stem + ".loss.svg", stem + ".ranks.svg");
    }

    /// <summary>Inside an output folder: <c>DIR/loss.svg</c>, <c>DIR/ranks.svg</c>.</summary>
    public static PlotFiles Inside(string folder) => new(Path.Combine(folder, "loss.svg"), Path.Combine(folder, "ranks.svg"));

    /// <summary>In the current folder, named after the command: <c>classify.loss.svg</c>, <c>classify.ranks.svg</c>.</summary>
    public static PlotFiles Here(string command) => new($"{command}.loss.svg", $"{command}.ranks.svg");

    /// <summary>The zoo's chart: <c>zoo.svg</c> beside the README it writes, else in the current folder.</summary>
    public static PlotFiles ForZoo(string? readme) => new(null, Zoo: Path.Combine(readme is null ? "" : Path.GetDirectoryName(readme) ?? "", "zoo.svg"));

    /// <summary><paramref name="folder"/> when the command was given one, else <see cref="Here"/>.</summary>
    public static PlotFiles InsideOrHere(string? folder, string command) => folder is null ? Here(command) : Inside(folder);
}

using OxyPlot;

namespace Engine.Cli.Plots;

/// <summary>
/// Writes an OxyPlot model as an SVG file. SVG because OxyPlot's exporter for it is managed code; PNG would need the
/// native SkiaSharp renderer, which the engine does not ship. The file is written beside its target and renamed, so
/// a failed export never leaves half a picture.
/// </summary>
public static class SvgPlotFile
{
    /// <summary>The size of every picture, in pixels.</summary>
    public const double Width = 760, Height = 460;

    /// <summary>A plot model with the engine's look: white background (readable in dark mode), one sans-serif font.</summary>
    public static PlotModel NewModel(string title, string? subtitle = null) => new()
    {
        Title = title,
        // OxyPlot measures the title shorter than browsers draw it; a leading empty line keeps the subtitle clear of it.
        Subtitle = subtitle is null ? null : "\n" + subtitle,
        TitleFontSize = 15,
        SubtitleFontSize = 11,
        DefaultFont = "Arial",
        DefaultFontSize = 12,
        Background = OxyColors.White,
    };

    /// <summary>Exports <paramref name="model"/> to <paramref name="path"/>, creating its folder.</summary>
    public static void Write(PlotModel model, string path, double width = Width, double height = Height)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temporary = full + ".tmp";
        using (var file = File.Create(temporary))
            new SvgExporter { Width = width, Height = height }.Export(model, file);
        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>
    /// Lays <paramref name="model"/> out at the given size (by exporting it to nowhere), so that its axes can turn data
    /// into screen positions, as label placement needs before the real export.
    /// </summary>
    public static void Layout(PlotModel model, double width, double height) =>
        new SvgExporter { Width = width, Height = height }.Export(model, Stream.Null);

    /// <summary>A title shortened to fit the picture's width.</summary>
    public static string Shorten(string text, int max = 96) => text.Length <= max ? text : text[..(max - 1)] + "…";
}

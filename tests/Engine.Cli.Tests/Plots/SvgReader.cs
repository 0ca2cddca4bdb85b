using System.Globalization;
using System.Xml.Linq;

namespace Engine.Cli.Tests.Plots;

/// <summary>Reads what the plot writers drew back out of an SVG file, through System.Xml (so the file must be well-formed).</summary>
public sealed class SvgReader
{
    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    readonly XDocument _document;

    /// <summary>Parses <paramref name="path"/>; throws when it is not well-formed XML with an svg root.</summary>
    public SvgReader(string path)
    {
        _document = XDocument.Load(path);
        if (_document.Root?.Name != Svg + "svg") throw new InvalidDataException($"{path}: the root is {_document.Root?.Name}, not svg");
    }

    /// <summary>Every element named <paramref name="name"/> in the SVG namespace.</summary>
    public IEnumerable<XElement> Elements(string name) => _document.Descendants(Svg + name);

    /// <summary>The strings of every text element.</summary>
    public List<string> Texts() => Elements("text").Select(t => t.Value).ToList();

    /// <summary>The labels drawn inside heat-map cells (centred both ways; axis labels and titles are anchored elsewhere).</summary>
    public List<string> CellLabels() => Elements("text")
        .Where(t => (string?)t.Attribute("dominant-baseline") == "middle" && (string?)t.Attribute("text-anchor") == "middle")
        .Select(t => t.Value).ToList();

    /// <summary>The vertices of the longest polyline whose style contains <paramref name="style"/> (a series' colour and width).</summary>
    public List<(double X, double Y)> LongestLine(string style) => Elements("polyline")
        .Where(p => ((string?)p.Attribute("style") ?? "").Contains(style, StringComparison.Ordinal))
        .Select(p => ((string)p.Attribute("points")!).Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(xy => xy.Split(',')).Select(xy => (Parse(xy[0]), Parse(xy[1]))).ToList())
        .MaxBy(v => v.Count) ?? [];

    /// <summary>The centres of the circles (markers) drawn.</summary>
    public List<(double X, double Y)> Circles() => Elements("ellipse")
        .Select(e => (Parse((string)e.Attribute("cx")!), Parse((string)e.Attribute("cy")!))).ToList();

    static double Parse(string s) => double.Parse(s, CultureInfo.InvariantCulture);
}

using System.Reflection;
using System.Text.Json;
using Engine.Pretrained;
using Samples.CustomOpGradCheck;
using Samples.InspectInternals;
using Samples.SentenceSimilarity;

namespace Engine.Docs.Tests;

/// <summary>The main logic of each sample under samples/, with its output checked.</summary>
public sealed class SamplesTests
{
    // --- samples/SentenceSimilarity ---

    static readonly string[] Documents =
    [
        "A cat sits on the mat.",
        "The stock market fell sharply on Tuesday.",
        "Heavy rain is expected over the weekend.",
        "He plays the guitar in a rock band.",
    ];

    [Fact]
    public void SemanticSearch_RanksTheCatSentenceFirstWithTheDotProductsOfItsEmbeddings()
    {
        var embedder = SentenceEmbedder.LoadMiniLm();
        var matches = new SemanticSearch(embedder, Documents).Search("a kitten asleep on a rug");
        Assert.Equal("A cat sits on the mat.", matches[0].Document);
        Assert.Equal(Documents.Order(), matches.Select(m => m.Document).Order());
        Assert.True(matches.Zip(matches.Skip(1)).All(p => p.First.Similarity >= p.Second.Similarity), "sorted from most similar");
        // Independently: embed each text alone and take the dot product with plain loops.
        var query = embedder.Embed(["a kitten asleep on a rug"]).ToDoubleArray();
        foreach (var m in matches)
        {
            var doc = embedder.Embed([m.Document]).ToDoubleArray();
            AssertClose(query.Zip(doc, (a, b) => a * b).Sum(), m.Similarity, 1e-4, m.Document);
        }
        Assert.True(matches[0].Similarity > 0.4 && matches[1].Similarity < 0.2, string.Join(", ", matches));
    }

    [Fact]
    public void SemanticSearch_NeedsNoNativeLibrary()
    {
        // The app's dependency manifest (copied next to the tests with the app) lists managed assemblies only.
        var deps = Path.Combine(AppContext.BaseDirectory, "SentenceSimilarity.deps.json");
        using var json = JsonDocument.Parse(File.ReadAllText(deps));
        var libraries = json.RootElement.GetProperty("targets").EnumerateObject().Single().Value.EnumerateObject().ToList();
        Assert.Contains(libraries, l => l.Name.StartsWith("Engine.Pretrained/", StringComparison.Ordinal));
        foreach (var library in libraries)
        {
            Assert.False(library.Value.TryGetProperty("native", out _), $"{library.Name} has native assets");
            Assert.False(library.Value.TryGetProperty("runtimeTargets", out _), $"{library.Name} has platform-specific assets");
            Assert.DoesNotContain("OnnxRuntime", library.Name, StringComparison.OrdinalIgnoreCase);
            if (!library.Value.TryGetProperty("runtime", out var runtime)) continue;
            foreach (var asset in runtime.EnumerateObject())
                AssemblyName.GetAssemblyName(Path.Combine(AppContext.BaseDirectory, Path.GetFileName(asset.Name)));   // throws for a native file
        }
    }

    [Fact]
    public void SemanticSearch_RefusesAnEmptyCollection() =>
        Assert.Throws<ArgumentException>(() => new SemanticSearch(null!, []));

    // --- samples/CustomOpGradCheck ---

    [Fact]
    public void LogAddExp_ComputesLogOfSumOfExponentialsWithoutOverflow()
    {
        var a = Tensor.FromArray(new double[] { 0, 1, -2, 1000 });
        var b = Tensor.FromArray(new double[] { 0, 3, -2, 999 });
        var y = new LogAddExp().Apply(a, b).ToDoubleArray();
        double[] expected = [Math.Log(2), 3 + Math.Log(1 + Math.Exp(-2)), -2 + Math.Log(2), 1000 + Math.Log(1 + Math.Exp(-1))];
        AssertClose(expected, y, 1e-12, "logaddexp");
    }

    [Fact]
    public void LogAddExp_PassesTheGradientPropertyToSecondOrder()
    {
        var outcome = GradientProperty.Check((x, y) => new LogAddExp().Apply(x, y), tests: 40, secondOrder: true);
        Assert.True(outcome.Passed, outcome.Report);
    }

    [Fact]
    public void TheBuggyBackward_PassesAtEqualShapesButThePropertyFindsTheBroadcastCase()
    {
        var a = Tensor.Randn([2, 3], dtype: DType.Float64, generator: new Generator(1));
        var b = Tensor.Randn([2, 3], dtype: DType.Float64, generator: new Generator(2));
        Assert.True(GradCheck.Check(x => new LogAddExpWithoutBroadcastReduction().Apply(x[0], x[1]), [a, b]).Passed);

        var outcome = GradientProperty.Check((x, y) => new LogAddExpWithoutBroadcastReduction().Apply(x, y), tests: 100);
        Assert.False(outcome.Passed);
        Assert.Contains("Falsifiable", outcome.Report);
        Assert.Contains("the rule of LogAddExpWithoutBroadcastReduction gave input", outcome.Report);
        Assert.DoesNotContain("   at ", outcome.Report);
    }

    // --- samples/InspectInternals ---

    [Fact]
    public void InternalsTour_ShowsTheGraphAndFindsWhereTheNaNStarts()
    {
        var printed = new StringWriter();
        var findings = InternalsTour.Run(printed);

        // mean(sqrt(sum(x^2, 1))): Square, Sum, Sqrt, then Mean as Sum and Div, from the loss back.
        Assert.Equal(["Div", "Reshape", "Sum", "Sqrt", "Reshape", "Sum", "Square"], findings.Ops.Select(o => o[..o.IndexOf('(')]));
        Assert.StartsWith("digraph", findings.Dot);
        Assert.StartsWith("flowchart BT", findings.Mermaid);
        foreach (var op in new[] { "Square", "Sum", "Sqrt", "Div" }) Assert.Contains($"label=\"{op}\"", findings.Dot);
        Assert.Contains("points [3,2] float64 requires_grad", findings.Dot);
        Assert.Contains("loss [] float64 requires_grad", findings.Mermaid);

        // d/dp mean_i |p_i| = p_i / (3 |p_i|): (3,4)/15 and (-1,0)/3; the origin gets NaN by hand and 0 with Norm.
        double[] expected = [3.0 / 15, 4.0 / 15, double.NaN, double.NaN, -1.0 / 3, 0];
        Assert.Equal(expected.Select(double.IsNaN), findings.SilentGradient.Select(double.IsNaN));
        AssertClose(expected.Select(v => double.IsNaN(v) ? 0 : v).ToArray(), findings.SilentGradient.Select(v => double.IsNaN(v) ? 0 : v).ToArray(), 1e-12, "by hand");
        AssertClose(expected.Select(v => double.IsNaN(v) ? 0 : v).ToArray(), findings.FixedGradient, 1e-12, "with Norm");
        Assert.StartsWith("Anomaly: the backward of Sqrt produced Inf in the gradient of input 0", findings.BackwardAnomaly);
        Assert.StartsWith("Anomaly: the forward of Log produced NaN from inputs without NaN", findings.ForwardAnomaly);
        Assert.Contains("4. With anomaly mode: Anomaly: the backward of Sqrt", printed.ToString());
    }
}

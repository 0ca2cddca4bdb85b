using System.Text.Json;
using Engine.Nn.Merging;
using Xunit;

namespace Engine.Nn.Tests.Merging;

/// <summary>
/// PCB and WIDEN against PyTorch (tests/golden/make_merge_papers_golden.py wrote tests/golden/merge-papers/): the same
/// formulas in torch's own sort, clamp, norm, cosine similarity, stable argsort and softmax, in float64, on inputs
/// large enough that PCB's ε-clipping bites at both ends (D = 20000: ranks 2 and 19997).
/// </summary>
public class MergePapersGoldenTests
{
    static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "golden", "merge-papers");

    static JsonElement Load(string file) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, file))).RootElement;

    // The script's closed-form inputs.
    static double BaseValue(int k) => Math.Sin(0.37 * k + 0.1);
    static double DeltaValue(int i, int k, double scale) => scale * Math.Sin(k * (0.013 + 0.0071 * i) + 0.7 * i) * (1 + (k * 7 + i) % 13);

    static int[] Shape(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [Fact]
    public void Pcb_MatchesTorch()
    {
        var g = Load("pcb.json");
        var lambdas = g.GetProperty("lambdas").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var shapes = g.GetProperty("shapes").EnumerateObject().Select(p => (p.Name, Shape: Shape(p.Value))).ToList();
        // A zero base, so each model's tensor is its task vector exactly (no rounding in θ_i − θ_pre to move a rank).
        var b = shapes.ToDictionary(s => s.Name, s => Tensor.Zeros(s.Shape, DType.Float64));
        var models = Enumerable.Range(0, lambdas.Length).Select(i =>
        {
            int offset = 0;
            var model = new Dictionary<string, Tensor>();
            foreach (var (name, shape) in shapes)
            {
                int size = shape.Aggregate(1, (x, y) => x * y), start = offset;
                model[name] = Tensor.FromArray(Enumerable.Range(start, size).Select(k => DeltaValue(i, k, 0.001)).ToArray(), shape);
                offset += size;
            }
            return (IReadOnlyDictionary<string, Tensor>)model;
        }).ToList();

        var merged = new PcbMerge(new MergeOptions(Weights: lambdas, Density: g.GetProperty("ratio").GetDouble())).Merge(b, models);

        var expected = new double[g.GetProperty("d").GetInt32()];
        var values = g.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        foreach (var (index, at) in g.GetProperty("indices").EnumerateArray().Select((x, at) => (x.GetInt32(), at))) expected[index] = values[at];
        var actual = shapes.SelectMany(s => merged[s.Name].ToDoubleArray()).ToArray();
        AssertClose(expected, actual, 1e-12, "pcb");
        Assert.Equal(values.Length, actual.Count(v => v != 0));
    }

    [Fact]
    public void Widen_MatchesTorch()
    {
        var g = Load("widen.json");
        int n = g.GetProperty("models").GetInt32();
        var shapes = g.GetProperty("shapes").EnumerateObject().Select(p => (p.Name, Shape: Shape(p.Value))).ToList();
        var b = new Dictionary<string, Tensor>();
        var models = Enumerable.Range(0, n).Select(_ => new Dictionary<string, Tensor>()).ToList();
        int offset = 0;
        foreach (var (name, shape) in shapes)
        {
            int size = shape.Aggregate(1, (x, y) => x * y), start = offset;
            var p = Enumerable.Range(start, size).Select(BaseValue).ToArray();
            b[name] = Tensor.FromArray(p, shape);
            for (int i = 0; i < n; i++)
                models[i][name] = Tensor.FromArray(Enumerable.Range(start, size).Select((k, at) => p[at] + DeltaValue(i, k, 0.05)).ToArray(), shape);
            offset += size;
        }

        var merged = new WidenMerge().Merge(b, models);

        foreach (var (name, _) in shapes)
            AssertClose(g.GetProperty("merged").GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray(), merged[name].ToDoubleArray(), 1e-12, name);
    }
}

using System.Text.Json;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// ToString against PyTorch's own text. The expected strings in tests/golden/format.json were printed by
/// PyTorch (tests/golden/make_format_golden.py); each factory below builds the same tensor as the script's case.
/// </summary>
public class FormatTests
{
    static readonly double Inf = double.PositiveInfinity, NaN = double.NaN;

    static readonly Dictionary<string, Func<Tensor>> Cases = new()
    {
        ["matrix"] = () => Tensor.FromArray(new float[,] { { 1, 2 }, { 3, 4 } }),
        ["fractions"] = () => Tensor.FromArray(new[] { 0.1f, 2.5f }),
        ["negative"] = () => Tensor.FromArray(new[] { -1.5f, 0f, 2.25f }),
        ["int64"] = () => Tensor.FromArray(new long[] { 1, 2, 3 }),
        ["int32"] = () => Tensor.FromArray(new[] { 1, -20, 3 }),
        ["bool"] = () => Tensor.FromArray(new[] { true, false }),
        ["scalar"] = () => Tensor.Scalar(3.5),
        ["scalar_int"] = () => Tensor.Scalar(7, DType.Int64),
        ["float64"] = () => Tensor.FromArray(new[] { 1.5, -2.25 }),
        ["zeros"] = () => Tensor.Zeros(3),
        ["wide_range_integers"] = () => Tensor.FromArray(new[] { 1f, 2000f }),
        ["tiny"] = () => Tensor.FromArray(new[] { 1e-5f, 1f }),
        ["huge"] = () => Tensor.FromArray(new[] { 1e9f, 1f }),
        ["infinity"] = () => Tensor.FromArray(new[] { (float)Inf, 1f }),
        ["nan"] = () => Tensor.FromArray(new[] { (float)NaN, 1.5f }),
        ["all_nonfinite"] = () => Tensor.FromArray(new[] { (float)NaN, (float)-Inf }),
        ["half_even"] = () => Tensor.FromArray(new[] { 0.03125, 1.0 }),
        ["wraps"] = () => Tensor.Arange(0, 20, 1, DType.Float32),
        ["wraps_int"] = () => Tensor.Arange(30),
        ["cube"] = () => Tensor.Arange(0, 24, 1, DType.Float32).Reshape(2, 3, 4) / 4,
        ["empty"] = () => Tensor.Zeros(0),
        ["empty_2d"] = () => Tensor.Zeros(2, 0),
        ["empty_int64"] = () => Tensor.Zeros([0], DType.Int64),
        ["long_vector"] = () => Tensor.Arange(0, 2000, 1, DType.Float32),
        ["long_rows"] = () => Tensor.Arange(0, 3000, 1, DType.Float32).Reshape(3, 1000),
        ["many_rows"] = () => Tensor.Arange(2000).Reshape(200, 10),
        ["summarized_cube"] = () => Tensor.Arange(0, 1200, 1, DType.Float32).Reshape(4, 5, 60) / 8,
    };

    static readonly Dictionary<string, string> Golden = LoadGolden();

    static Dictionary<string, string> LoadGolden()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "golden", "format.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("cases").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void ToString_MatchesPyTorch(string name) => Assert.Equal(Golden[name], Cases[name]().ToString());

    [Fact]
    public void GoldenFile_CoversEveryCase() => Assert.Equal(Golden.Keys.Order(), Cases.Keys.Order());

    [Fact]
    public void ToString_OfStridedView_PrintsLogicalOrder()
    {
        // Hand-derived from PyTorch's rules: integer-valued floats print as "1.", rows on separate lines.
        var t = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } }).T;
        Assert.Equal("tensor([[1., 4.],\n        [2., 5.],\n        [3., 6.]])", t.ToString());
    }
}

using DocExamples;

namespace Engine.Docs.Tests;

/// <summary>Runs the README's tour (docs/examples/ReadmeTour.cs) and checks each of its claims.</summary>
public sealed class ReadmeTourTests
{
    static readonly (TourResult Tour, string Printed) Run = RunTour();

    static (TourResult, string) RunTour()
    {
        using var folder = new ScratchFolder();
        var (tour, printed) = ConsoleOutput.Capture(ReadmeTour.Run);
        Assert.True(File.Exists(Path.Combine(folder.Path, "tour-gpt2", "config.json")));
        Assert.True(File.Exists(Path.Combine(folder.Path, "tour-gpt2", "model.safetensors")));
        return (tour, printed);
    }

    [Fact]
    public void PrintsTheBroadcastSumAsTheCommentSays() =>
        Assert.Equal("tensor([[11., 22., 33.],\n        [14., 25., 36.]])\n", Run.Printed);

    [Fact]
    public void TransposeIsAViewOfTheSameStorage()
    {
        var (a, v) = (Run.Tour.A, Run.Tour.V);
        Assert.Equal([3, 2], v.Shape);
        Assert.Same(a.Storage, v.Storage);
        Assert.False(v.IsContiguous);
        Assert.Equal(new double[] { 1, 4, 2, 5, 3, 6 }, v.ToDoubleArray());
    }

    [Fact]
    public void ReductionsSoftmaxAndMatMulGiveTheHandComputedValues()
    {
        Assert.Equal([2, 1], Run.Tour.S.Shape);
        Assert.Equal(new double[] { 6, 15 }, Run.Tour.S.ToDoubleArray());
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        var row = new[] { Math.Exp(1) / z, Math.Exp(2) / z, Math.Exp(3) / z };
        AssertClose(row.Concat(row).ToArray(), Run.Tour.P.ToDoubleArray(), 1e-6, "softmax (each row is 1,2,3 shifted)");
        Assert.Equal(new double[] { 14, 32, 32, 77 }, Run.Tour.M.ToDoubleArray());
    }

    [Fact]
    public void SeededRandomNumbersRepeat()
    {
        var again = Tensor.Randn([2, 3], generator: new Generator(42)).ToDoubleArray();
        Assert.Equal(again, Run.Tour.R.ToDoubleArray());
        Assert.NotEqual(again, Tensor.Randn([2, 3], generator: new Generator(43)).ToDoubleArray());
    }

    [Fact]
    public void BackwardGivesTheGradientOfTheMeanSquaredResidual()
    {
        // loss = mean_i (a_i . w - 1)^2 over the 2 rows, so dloss/dw_k = (2/2) sum_i (a_i . w - 1) a_ik.
        double[,] a = { { 1, 2, 3 }, { 4, 5, 6 } };
        var w = Run.Tour.W.ToDoubleArray();
        var expected = new double[3];
        for (int i = 0; i < 2; i++)
        {
            double residual = a[i, 0] * w[0] + a[i, 1] * w[1] + a[i, 2] * w[2] - 1;
            for (int k = 0; k < 3; k++) expected[k] += residual * a[i, k];
        }
        Assert.NotNull(Run.Tour.W.Grad);
        AssertClose(expected, Run.Tour.W.Grad!.ToDoubleArray(), 1e-5, "w.Grad");
    }

    [Fact]
    public void TheSavedGpt2FolderLoadsBackTheSameParameters()
    {
        var saved = Run.Tour.Gpt.StateDict();
        var loaded = Run.Tour.Gpt2.StateDict();
        Assert.Equal(saved.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, tensor) in saved) Assert.Equal(tensor.ToDoubleArray(), loaded[name].ToDoubleArray());
    }

    [Fact]
    public void MiniLmCosinesAreTheOnesTheCommentsQuote()
    {
        var e = Run.Tour.Embeddings;
        Assert.Equal([3, 384], e.Shape);
        var rows = Enumerable.Range(0, 3).Select(i => e.Select(0, i).ToDoubleArray()).ToArray();
        foreach (var row in rows) AssertClose(1, Math.Sqrt(row.Sum(x => x * x)), 1e-5, "row norm");
        double Dot(double[] x, double[] y) => x.Zip(y, (p, q) => p * q).Sum();
        Assert.Equal(0.665, Math.Round(Run.Tour.Cosine, 3));
        Assert.Equal(0.665, Math.Round(Dot(rows[0], rows[1]), 3));
        Assert.Equal(0.078, Math.Round(Dot(rows[0], rows[2]), 3));
    }
}

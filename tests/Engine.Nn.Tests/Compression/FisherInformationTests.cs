using Engine.Nn.Compression;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// The Fisher pass: for L_b = Σ (x_b Wᵀ) the gradient of W_ij is x_b[j] for every row i, so the Fisher is the mean of
/// x_b[j]² over the batches (a hand-derived oracle), and gradients are left cleared.
/// </summary>
public class FisherInformationTests
{
    [Fact]
    public void MeanOfSquaredGradients_OfALinearSum()
    {
        var layer = new Linear(3, 2, bias: false, new Generator(1));
        double[][] inputs = [[1, -2, 0.5], [3, 0, -1]];
        var fisher = FisherInformation.Accumulate(layer, [("w", layer.Weight)], 2,
            b => layer.Forward(Tensor.FromArray(inputs[b].Select(v => (float)v).ToArray(), [1, 3])).Sum());
        var perColumn = Enumerable.Range(0, 3).Select(j => (inputs[0][j] * inputs[0][j] + inputs[1][j] * inputs[1][j]) / 2).ToArray();
        AssertClose(perColumn.Concat(perColumn).ToArray(), fisher["w"].ToDoubleArray(), 1e-6);
        Assert.Null(layer.Weight.Grad is { } g && g.Abs().Sum().Item() > 0 ? g : null);
    }

    [Fact]
    public void NoBatches_IsNamedError()
    {
        var layer = new Linear(3, 2);
        Assert.Contains("batches must be at least 1", Assert.Throws<ArgumentException>(() => FisherInformation.Accumulate(layer, [("w", layer.Weight)], 0, _ => Tensor.Zeros(1))).Message);
    }
}

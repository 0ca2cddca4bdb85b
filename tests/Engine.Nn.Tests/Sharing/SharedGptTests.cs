using Xunit;

namespace Engine.Nn.Tests.Sharing;

/// <summary>
/// The one-call builders for the from-scratch comparison: a MASA GPT's count is the per-type formula plus the dense
/// rest, <see cref="SharedGpt.KeptFractionFor"/> gives an RPS GPT of exactly that count, and both train (a few AdamW
/// steps on one batch lower the loss; for RPS with the gradient scaling between backward and step).
/// </summary>
public class SharedGptTests
{
    static readonly GptConfig Config = new(VocabSize: 13, ContextLength: 8, DModel: 16, Layers: 3, Heads: 2);

    static double Train(Gpt model, Action? afterBackward, int steps = 12)
    {
        var data = Tensor.Randint(0, Config.VocabSize, [4, 9], generator: new Generator(21));
        var (x, y) = (data.Narrow(1, 0, 8), data.Narrow(1, 1, 8));
        var optimizer = new AdamW(model.Parameters(), 1e-2);
        double first = 0, last = 0;
        for (int s = 0; s < steps; s++)
        {
            var loss = Losses.CrossEntropy(model.Forward(x), y);
            optimizer.ZeroGrad();
            Autograd.Autograd.Backward(loss);
            afterBackward?.Invoke();
            optimizer.Step();
            if (s == 0) first = loss.Item();
            last = loss.Item();
        }
        return last / first;
    }

    [Fact]
    public void MasaAndRps_AtEqualParameterCount_BothTrain()
    {
        var (masa, types) = SharedGpt.Masa(Config, atoms: 1, new Generator(1));
        long dense = new Gpt(Config, new Generator(1)).ParameterCount();
        Assert.Equal(dense - types.Sum(t => t.DenseParameterCount) + types.Sum(t => t.ParameterCount), masa.ParameterCount());

        var (rpsModel, rps) = SharedGpt.Rps(Config, SharedGpt.KeptFractionFor(Config, masa.ParameterCount()), new Generator(1));
        Assert.Equal(masa.ParameterCount(), rpsModel.ParameterCount());
        Assert.Equal(masa.ParameterCount(), rps.ParameterCount);

        Assert.True(Train(masa, null) < 0.9, "MASA loss did not fall");
        Assert.True(Train(rpsModel, rps.ScaleGradients) < 0.9, "RPS loss did not fall");
    }

    [Fact]
    public void RpsTrainingModel_MakesTheTrainerScaleTheMemoryGradientBeforeEachStep()
    {
        // Plain SGD with lr 1: the step is exactly −(scaled gradient), so the memory's change shows whether the hook ran.
        var (model, rps) = SharedGpt.Rps(Config, 0.3, new Generator(4));
        var data = Tensor.Randint(0, Config.VocabSize, [2, 9], generator: new Generator(5));
        Tensor Loss() => Losses.CrossEntropy(model.Forward(data.Narrow(1, 0, 8)), data.Narrow(1, 1, 8));
        Assert.Contains(rps.GradientScale, g => Math.Abs(g - 1) > 0.1); // else the step could not tell scaled from raw
        var before = rps.Memory.ToDoubleArray();
        Autograd.Autograd.Backward(Loss());
        var raw = rps.Memory.Grad!.ToDoubleArray();
        model.ZeroGrad();

        new Trainer(new RpsTrainingModel(model, rps), new Sgd(model.Parameters(), 1.0), new TrainerOptions(1)).Run(_ => Loss());
        var after = rps.Memory.ToDoubleArray();
        var expected = before.Select((z, j) => z - raw[j] / (1e-6 + rps.GradientScale[j])).ToArray();
        AssertClose(expected, after, 1e-5, "z after one step");
    }
}

using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests.Recurrent;

/// <summary>The chunked layer's gradients are useful ones: a tiny model learns a task that needs the recurrent memory.</summary>
public class DeltaProductTrainingTests
{
    [Theory]
    [InlineData(1, false, false)]
    [InlineData(2, true, true)]
    public void TinyModel_LearnsToRecallTheFirstTokenAtEveryPosition(int householder, bool negative, bool gate)
    {
        // Target at every position = the sequence's first token: beyond the convolution's reach after 3 steps, so only
        // the delta-rule state can carry it. Chance level is ln 4 = 1.39 nats.
        var gen = new Generator(1);
        var embedding = new Embedding(4, 16, gen);
        var mixer = new DeltaProduct(new DeltaProductOptions(16, 2, Householder: householder, NegativeEigenvalues: negative, ForgetGate: gate, ChunkSize: 4), gen);
        var head = new Linear(16, 4, generator: gen);
        var optimizer = new Adam(embedding.Parameters().Concat(mixer.Parameters()).Concat(head.Parameters()), lr: 1e-2);
        var losses = new List<double>();
        for (int step = 0; step < 70; step++)
        {
            var ids = Tensor.Randint(0, 4, [16, 8], generator: new Generator(100 + (ulong)step));
            var targets = ids.Narrow(1, 0, 1).Expand(16, 8).Contiguous();
            var logits = head.Forward(mixer.Forward(embedding.Forward(ids)));
            var loss = Losses.CrossEntropy(logits.Reshape(-1, 4), targets.Reshape(-1));
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
            losses.Add(loss.Item());
        }
        Assert.True(losses[0] > 1.2, $"initial loss {losses[0]:F3}");
        Assert.True(losses.TakeLast(5).Average() < 0.1, $"final losses {string.Join(", ", losses.TakeLast(5).Select(l => l.ToString("F3")))}");
    }
}

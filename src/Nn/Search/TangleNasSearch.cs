using Engine.Autograd;

namespace Engine.Nn;

/// <summary>Settings of <see cref="TangleNasSearch"/>.</summary>
/// <param name="Steps">Alternating steps (each one arch step and one weight step).</param>
/// <param name="Batch">Sequences per batch.</param>
/// <param name="Context">Tokens per sequence.</param>
/// <param name="WeightLr">Peak AdamW rate of the weights (warm-up then cosine to a tenth, as nanoGPT's 5e-4 → 5e-5).</param>
/// <param name="ArchLr">Adam rate of the α's (TangleNAS: 3e-4).</param>
/// <param name="Seed">Seed of the batches.</param>
public sealed record TangleNasOptions(int Steps, int Batch, int Context, double WeightLr = 2e-3, double ArchLr = 3e-4, ulong Seed = 1);

/// <summary>
/// TangleNAS's first-order alternating search (<c>search_spaces/nanoGPT/train_search.py</c>, <c>architect.py</c>;
/// DARTS first order, Liu et al. 2019 §2.3): the training names are split in two halves (train_portion 0.5); each step
/// first moves the α's by Adam (lr 3e-4, β = (0.5, 0.999), L2 weight decay 1e-3) on a batch of the second half, then
/// the weights by AdamW (decay 0.1, gradient clip 1) on a batch of the first half, each under a fresh draw of the
/// sampler's choice weights.
/// </summary>
public static class TangleNasSearch
{
    /// <summary>Searches in place; <paramref name="progress"/> gets (step, weight loss, arch loss) after each step.</summary>
    /// <exception cref="ArgumentException">A non-positive step count, batch or context.</exception>
    public static void Run(GptSupernet supernet, IArchitectureSampler sampler, NamesCorpus weightHalf, NamesCorpus archHalf, TangleNasOptions options,
        Action<int, double, double>? progress = null)
    {
        if (options.Steps <= 0 || options.Batch <= 0 || options.Context <= 0)
            throw new ArgumentException($"TangleNasSearch: steps {options.Steps}, batch {options.Batch} and context {options.Context} must be positive");
        supernet.Train();
        var weights = new AdamW(WeightDecayGroups.Build(supernet, options.WeightLr, 0.1), beta2: 0.99);
        var arch = new Adam(supernet.ArchParameters, options.ArchLr, beta1: 0.5, beta2: 0.999, weightDecay: 1e-3);
        var schedule = new WarmupCosineSchedule(Math.Min(100, options.Steps / 10), options.Steps, 0.1);
        var data = new Generator(options.Seed);
        for (int step = 0; step < options.Steps; step++)
        {
            var (xa, ya) = archHalf.Batch(options.Batch, options.Context, data);
            var archLoss = Losses.CrossEntropy(supernet.Forward(xa, supernet.SampleWeights(sampler)), ya);
            arch.ZeroGrad();
            supernet.ZeroGrad();
            Engine.Autograd.Autograd.Backward(archLoss);
            arch.Step();

            LrScheduler.Apply(weights, schedule, step);
            var (xw, yw) = weightHalf.Batch(options.Batch, options.Context, data);
            var weightLoss = Losses.CrossEntropy(supernet.Forward(xw, supernet.SampleWeights(sampler)), yw);
            weights.ZeroGrad();
            supernet.ArchParameters.ZeroGrad();
            Engine.Autograd.Autograd.Backward(weightLoss);
            GradClip.ClipGradNorm(supernet.Parameters(), 1.0);
            weights.Step();
            progress?.Invoke(step, weightLoss.Item(), archLoss.Item());
        }
        supernet.ArchParameters.ZeroGrad();
    }
}

using Engine.Autograd;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// The job every run of <c>engine optimizers</c> trains (issue 21): a character GPT on the embedded female names with
/// <c>engine train</c>'s recipe — the same corpus split, initialisation and data order for a given seed, warm-up then
/// cosine to 10%, gradient clipping at 1 (none for MARS, which clips its own corrected gradient, as engine train) —
/// through the one training loop, <see cref="Trainer"/>. Only the optimiser differs between runs.
/// </summary>
/// <param name="Width">Model width d.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="Context">Tokens per sequence.</param>
/// <param name="Batch">Sequences per batch.</param>
/// <param name="Steps">The step budget.</param>
/// <param name="EvalEvery">Steps between validation losses (and after the last step).</param>
/// <param name="Seed">Seed of the split, the initialisation and the data order.</param>
sealed record ComparisonJob(int Width, int Layers, int Heads, int Context, int Batch, int Steps, int EvalEvery, ulong Seed)
{
    /// <summary>Warm-up steps: engine train's rule (a tenth of the budget, at most 100).</summary>
    public int Warmup => Math.Min(100, Steps / 10);

    /// <summary>One line that says what was trained.</summary>
    public string Describe(CharTokenizer tokenizer) =>
        $"GPT d={Width}, {Layers} layers, {Heads} heads, context {Context}, vocabulary {tokenizer.VocabSize}; batch {Batch}, {Steps} steps, " +
        $"warm-up {Warmup} + cosine to 10%, seed {Seed}, validation every {EvalEvery} steps";

    /// <summary>The female names and the tokenizer engine train uses for them.</summary>
    public static (List<string> Names, CharTokenizer Tokenizer) Data()
    {
        var names = EmbeddedData.Load("female");
        return (names, CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(names)));
    }

    /// <summary>
    /// Trains a fresh model with the optimiser <paramref name="build"/> makes for it. A run whose training or
    /// validation loss stops being finite ends there and is reported as diverged, not as an error: a learning-rate
    /// sweep expects some.
    /// </summary>
    public ComparisonOutcome Train(Func<Gpt, Optimizer> build)
    {
        var (names, tokenizer) = Data();
        var config = new GptConfig(tokenizer.VocabSize, Context, Width, Layers, Heads);
        MemoryEstimate.Require(MemoryEstimate.Gpt(config, Batch, Context, training: true),
            $"training with --batch {Batch}, --context {Context}, --width {Width}, --layers {Layers}", "lower them");
        var corpus = NamesData.Corpus(names, tokenizer, Seed, "female", Context, $"--context {Context}");
        var model = new Gpt(config, new Generator(Seed));
        var optimizer = build(model);
        var data = new Generator(Seed + 1);
        var curve = new List<(int Step, double Loss)>();
        var stepSeconds = new List<double>();
        // A step's time runs from its loss call (the next batch) to its completion: the optimiser step is in it,
        // the validations that may follow are not.
        var clock = new System.Diagnostics.Stopwatch();
        // Sophia-G's Hessian estimate: labels sampled from the model on the step's batch, as engine train does.
        var hessianGenerator = new Generator(Seed + 4);
        Tensor? lastInputs = null;
        var options = new TrainerOptions(Steps, new WarmupCosineSchedule(Warmup, Steps, 0.1), optimizer is Mars ? null : 1.0,
            (long)Batch * Context, EvalEvery,
            Evaluate: step =>
            {
                double loss = NamesAdaptation.ValidationLoss(model, model.Forward, corpus, Context);
                curve.Add((step, loss));
                if (!double.IsFinite(loss)) throw new Diverged();
            },
            Progress: _ => stepSeconds.Add(clock.Elapsed.TotalSeconds),
            HessianSample: optimizer is IHessianEstimating ? _ => SophiaG.SampledLabelLoss(model.Forward(lastInputs!), hessianGenerator) : null);
        try
        {
            new Trainer(model, optimizer, options).Run(_ =>
            {
                clock.Restart();
                var (x, y) = corpus.Batch(Batch, Context, data);
                lastInputs = x;
                var loss = Losses.CrossEntropy(model.Forward(x), y);
                if (!double.IsFinite(loss.Item())) throw new Diverged();
                return loss;
            });
        }
        catch (Diverged)
        {
            return new ComparisonOutcome(curve, double.NaN, ValidationCurve.Median(stepSeconds), model, Diverged: true);
        }
        return new ComparisonOutcome(curve, curve[^1].Loss, ValidationCurve.Median(stepSeconds), model, Diverged: false);
    }

    sealed class Diverged : Exception;
}

/// <summary>What one comparison run gave.</summary>
/// <param name="Curve">Validation losses by step.</param>
/// <param name="FinalLoss">The validation loss at the step budget (NaN when the run diverged).</param>
/// <param name="MedianStepSeconds">Median wall time of a training step, from taking its batch to the end of the optimiser step (validations left out).</param>
/// <param name="Model">The trained model.</param>
/// <param name="Diverged">The loss stopped being finite before the budget.</param>
sealed record ComparisonOutcome(IReadOnlyList<(int Step, double Loss)> Curve, double FinalLoss, double MedianStepSeconds, Gpt Model, bool Diverged);

// The training loop of docs/nn.md ("The training loop"), run by NnDocTests from a folder holding data/names.
using Engine;
using Engine.Autograd;
using Engine.Nn;

namespace DocExamples;

public static class NnTrainer
{
    /// <summary>Trains a small GPT on the female names for 100 steps; returns the result and the corpus.</summary>
    public static (TrainingResult Result, NamesCorpus Corpus) Run()
    {
        // doc-begin: nn-trainer
        var names = NamesCorpus.ReadLines("data/names/female.txt");     // one name per line (run from the repository root)
        var corpus = new NamesCorpus(names, CharTokenizer.FromTexts(names), validationFraction: 0.1, seed: 0);
        var model = new Gpt(new GptConfig(VocabSize: corpus.Tokenizer.VocabSize, ContextLength: 32, DModel: 32, Layers: 2, Heads: 4), new Generator(1));
        var optimizer = new AdamW(model.Parameters(), lr: 3e-3);
        var dataGenerator = new Generator(2);
        var options = new TrainerOptions(100, new WarmupCosineSchedule(WarmupSteps: 10, TotalSteps: 100), MaxGradNorm: 1.0,
            TokensPerStep: 16 * 32, EvaluateEvery: 50, Evaluate: step =>
            {
                using var noGrad = Autograd.NoGrad();
                var (vx, vy) = corpus.Batch(64, 32, new Generator(3), validation: true);
                Console.WriteLine($"step {step}: validation loss {Losses.CrossEntropy(model.Eval().Forward(vx), vy).Item():F3}");
            });
        TrainingResult result = new Trainer(model, optimizer, options).Run(step =>
        {
            var (x, y) = corpus.Batch(16, 32, dataGenerator);
            return Losses.CrossEntropy(model.Forward(x), y);
        });
        Console.WriteLine($"final training loss {result.FinalLoss:F3}, unigram baseline {corpus.UnigramBaseline():F3}");
        // doc-end: nn-trainer
        return (result, corpus);
    }
}

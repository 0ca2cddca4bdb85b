using Engine.Autograd;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// The small names GPT that the degeneracy demos (<c>engine analyze llc</c>, <c>engine analyze lib</c>; spec
/// seeds-remaining.md §9) train: the corpus (or its character-shuffled control), the model, and a training loop that
/// stops at given steps so that a caller can measure the model there. Training is the names jobs' recipe: AdamW without
/// weight decay, warm-up + cosine over the whole run, gradients clipped at 1.
/// </summary>
static class DegeneracyNamesRun
{
    /// <summary>The model's shape and the training settings.</summary>
    public sealed record Settings(string Data, int Width, int Layers, int Heads, int Context, int Batch, double Lr, ulong Seed);

    /// <summary>
    /// The corpus of <paramref name="s"/>'s names, or, when <paramref name="shuffled"/>, of the same names with all their
    /// characters permuted across the whole list (each name keeps its length): the unigram statistics and lengths stay,
    /// every dependency between characters is gone.
    /// </summary>
    public static (CharTokenizer Tokenizer, NamesCorpus Corpus) Corpus(Settings s, bool shuffled)
    {
        if (s.Width % s.Heads != 0) throw new ArgumentException($"--heads {s.Heads} must divide --width {s.Width}");
        var names = EmbeddedData.Load(s.Data);
        var tokenizer = CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(names));
        if (shuffled) names = ShuffleCharacters(names, s.Seed + 17);
        return (tokenizer, NamesData.Corpus(names, tokenizer, s.Seed, s.Data, s.Context, $"--context {s.Context}"));
    }

    /// <summary>A fresh model of <paramref name="s"/>'s shape, checked against the memory limit.</summary>
    public static Gpt Model(Settings s, CharTokenizer tokenizer)
    {
        var config = new GptConfig(tokenizer.VocabSize, s.Context, s.Width, s.Layers, s.Heads);
        MemoryEstimate.Require(MemoryEstimate.Gpt(config, s.Batch, s.Context, training: true),
            $"training with --batch {s.Batch}, --context {s.Context}, --width {s.Width}, --layers {s.Layers}", "lower them");
        return new Gpt(config, new Generator(s.Seed));
    }

    /// <summary>
    /// Trains <paramref name="model"/> for the largest of <paramref name="stops"/> steps and calls <paramref name="atStop"/>
    /// with the step count at each stop (0 before the first step), the model in evaluation mode.
    /// </summary>
    public static void Train(Gpt model, NamesCorpus corpus, Settings s, IReadOnlyList<int> stops, Action<int> atStop)
    {
        int total = stops.Max();
        var optimizer = new AdamW([new ParamGroup(model.Parameters(), s.Lr, 0)]);
        var schedule = new WarmupCosineSchedule(Math.Min(50, Math.Max(1, total / 10)), Math.Max(1, total), 0.1);
        var generator = new Generator(s.Seed + 1);
        for (int step = 0; ; step++)
        {
            if (stops.Contains(step))
            {
                model.Eval();
                atStop(step);
            }
            if (step == total) return;
            model.Train();
            optimizer.Groups[0].Lr = s.Lr * schedule.Factor(step);
            optimizer.ZeroGrad();
            var (x, y) = corpus.Batch(s.Batch, s.Context, generator);
            var loss = Losses.CrossEntropy(model.Forward(x), y);
            if (!double.IsFinite(loss.Item())) throw new TrainingDivergedException("loss", step + 1, loss.Item(), "Try a lower --lr.");
            loss.Backward();
            GradClip.ClipGradNorm(model.Parameters(), 1.0);
            optimizer.Step();
        }
    }

    /// <summary>The names with every character moved to a random place in the list (lengths kept).</summary>
    public static List<string> ShuffleCharacters(IReadOnlyList<string> names, ulong seed)
    {
        var chars = names.SelectMany(n => n).ToArray();
        var keys = Tensor.Rand([chars.Length], dtype: DType.Float64, generator: new Generator(seed)).ToArray<double>();
        var order = Enumerable.Range(0, chars.Length).OrderBy(i => keys[i]).ToArray();
        var result = new List<string>(names.Count);
        int at = 0;
        foreach (var n in names)
        {
            result.Add(new string(order.Skip(at).Take(n.Length).Select(i => chars[i]).ToArray()));
            at += n.Length;
        }
        return result;
    }
}

using Engine.Nn.Checkpoints;
using Engine.Peft.Multitask;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Multitask;

/// <summary>
/// Multitask prompt tuning: each task's prompt is P ⊙ (u_t v_t), each example of a mixed batch gets its own task's
/// prompt, in forward passes, cached generation and the classification encoder; the source-file initialisations.
/// </summary>
public class MultitaskPromptTuningTests
{
    static MultitaskPromptTuning Part(PeftModel peft) => (MultitaskPromptTuning)peft.ModelPart("default")!;

    // P ⊙ (u_t v_t) by loops, [n, d] flat.
    static double[] NaivePrompt(MultitaskPromptTuning part, int task)
    {
        int n = part.Embeddings.Size(0), d = part.Embeddings.Size(1), rank = part.TaskCols.Size(2);
        var p = part.Embeddings.ToDoubleArray();
        var u = part.TaskCols.ToDoubleArray();
        var v = part.TaskRows.ToDoubleArray();
        var prompt = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                double f = 0;
                for (int k = 0; k < rank; k++) f += u[(task * n + i) * rank + k] * v[(task * rank + k) * d + j];
                prompt[i * d + j] = p[i * d + j] * f;
            }
        return prompt;
    }

    static Tensor NaivePrompts(MultitaskPromptTuning part, params int[] tasks) =>
        Tensor.Stack(tasks.Select(t => Tensor.FromArray(NaivePrompt(part, t)).Reshape(part.Embeddings.Shape)).ToArray()).To(part.Embeddings.DType);

    [Fact]
    public void EachTasksPrompt_IsThePromptTimesItsColsRowsProduct_ComputedNaively()
    {
        var peft = Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 3, NumTasks = 3, NumRanks = 2, Seed = 4 });
        peft.To(DType.Float64);
        var part = Part(peft);
        Assert.Equal([3, 3, 2], part.TaskCols.Shape);
        Assert.Equal([3, 2, 8], part.TaskRows.Shape);
        var prompts = part.Prompts([2, 0, 1, 2]).ToDoubleArray();
        int size = 3 * 8;
        foreach (var (task, row) in new[] { (2, 0), (0, 1), (1, 2), (2, 3) })
            AssertClose(NaivePrompt(part, task), prompts.Skip(row * size).Take(size).ToArray(), 1e-14);
        // RANDOM: u and v ~ N(0, 0.02²), P ~ N(0, 1).
        Assert.InRange(Std(part.TaskCols.ToDoubleArray().Concat(part.TaskRows.ToDoubleArray()).ToArray()), 0.01, 0.03);
        Assert.InRange(Std(part.Embeddings.ToDoubleArray()), 0.6, 1.4);
    }

    static double Std(double[] v) => Math.Sqrt(v.Select(x => x * x).Average() - Math.Pow(v.Average(), 2));

    [Fact]
    public void AMixedBatch_GivesEachExampleItsTasksPrompt_WithExactGradients()
    {
        var gpt = TinyGpt();
        gpt.To(DType.Float64);
        var peft = Peft.Apply(gpt, new MultitaskPromptTuningConfig { NumVirtualTokens = 2, NumTasks = 2, NumRanks = 2, Seed = 5 });
        var part = Part(peft);
        foreach (var p in part.Parameters()) Scramble(p, (ulong)p.Numel, 0.7);
        var ids = Ids();
        var got = peft.ForwardForTasks(ids, [1, 0]);
        AssertClose(gpt.ForwardWithPrompt(ids, NaivePrompts(part, 1, 0)).ToDoubleArray(), got.ToDoubleArray(), 1e-12);
        AssertClose(peft.ForwardForTasks(ids.Narrow(0, 0, 1), [1]).ToDoubleArray(), got.Narrow(0, 0, 1).ToDoubleArray(), 1e-12);
        AssertClose(peft.ForwardForTasks(ids.Narrow(0, 1, 1), [0]).ToDoubleArray(), got.Narrow(0, 1, 1).ToDoubleArray(), 1e-12);
        Assert.True((got - peft.ForwardForTasks(ids, [0, 1])).Abs().Max().Item() > 1e-3, "swapping the tasks leaves the output unchanged");
        using (peft.TaskScope([1, 0])) AssertParameterGradients(part, () => peft.Forward(ids));
    }

    [Fact]
    public void Generation_WithTheTaskPromptCache_MatchesUncachedGreedyDecoding()
    {
        var peft = Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 3, NumTasks = 3, Seed = 4 });
        foreach (var p in Part(peft).Parameters()) Scramble(p, (ulong)p.Numel, 1.0);
        var prompt = Tensor.FromArray(new long[,] { { 3, 8 }, { 12, 1 } });
        using var _ = peft.TaskScope([2, 0]);
        var generated = Sampling.Generate(peft.Model, prompt, 4, new SamplingOptions(Greedy: true), cache: peft.ActiveInputAdapter!.CreateCache(peft, 2));
        var tokens = prompt;
        using (Autograd.Autograd.NoGrad())
            for (int step = 0; step < 4; step++)
                tokens = Tensor.Concat([tokens, peft.Forward(tokens).Select(1, -1).ArgMax(-1).Reshape(2, 1)], 1);
        Assert.Equal(tokens.ToArray<long>(), generated.ToArray<long>());
    }

    [Fact]
    public void ClassificationEncoder_TakesEachExamplesTaskPrompt()
    {
        var classifier = new TransformerEncoderClassifier(new TransformerEncoderConfig(12, 10, 16, 1, 4, 3, EncoderPooling.Mean, MlpRatio: 2), new Generator(7));
        classifier.Eval();
        var peft = Peft.Apply(classifier, new MultitaskPromptTuningConfig { NumVirtualTokens = 2, NumTasks = 2, Seed = 3 });
        foreach (var p in Part(peft).Parameters()) Scramble(p, (ulong)p.Numel, 1.0);
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2 }, { 4, 0, 9 } });
        var got = peft.ForwardForTasks(ids, [0, 1]);
        Assert.Equal([2, 3], got.Shape);
        AssertClose(classifier.ForwardWithPrompt(ids, NaivePrompts(Part(peft), 0, 1)).ToDoubleArray(), got.ToDoubleArray(), 1e-5);
    }

    [Theory]
    [InlineData("AVERAGE_SOURCE_TASKS")]
    [InlineData("EXACT_SOURCE_TASK")]
    [InlineData("ONLY_SOURCE_SHARED")]
    public void SourceInitialisations_ReadTheSourceAdaptersFile(string init)
    {
        var folder = TempFolder();
        try
        {
            var source = Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 3, NumTasks = 3, NumRanks = 2, Seed = 1 });
            foreach (var p in Part(source).Parameters()) Scramble(p, (ulong)p.Numel, 1.0);
            source.SavePretrained(folder);
            var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var s = Safetensors.Load(file);
            Assert.Equal(["prefix_task_cols", "prefix_task_rows", "prompt_embeddings"], s.Keys.Order(StringComparer.Ordinal));

            var target = Part(Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig
            {
                NumVirtualTokens = 3, NumTasks = 2, NumRanks = 2, PromptTuningInit = init, PromptTuningInitStateDictPath = file, PromptTuningInitTask = 2, Seed = 9,
            }));
            Assert.Equal(s["prompt_embeddings"].ToDoubleArray(), target.Embeddings.ToDoubleArray());
            var random = Part(Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 3, NumTasks = 2, NumRanks = 2, Seed = 9 }));
            for (int task = 0; task < 2; task++)
            {
                var cols = target.TaskCols.Select(0, task).ToDoubleArray();
                var rows = target.TaskRows.Select(0, task).ToDoubleArray();
                switch (init)
                {
                    case "AVERAGE_SOURCE_TASKS":
                        AssertClose(Mean(s["prefix_task_cols"]), cols, 1e-6);
                        AssertClose(Mean(s["prefix_task_rows"]), rows, 1e-6);
                        break;
                    case "EXACT_SOURCE_TASK":
                        Assert.Equal(s["prefix_task_cols"].Select(0, 2).ToDoubleArray(), cols);
                        Assert.Equal(s["prefix_task_rows"].Select(0, 2).ToDoubleArray(), rows);
                        break;
                    default:
                        Assert.Equal(random.TaskCols.Select(0, task).ToDoubleArray(), cols);
                        Assert.Equal(random.TaskRows.Select(0, task).ToDoubleArray(), rows);
                        break;
                }
            }
            Assert.Throws<NotSupportedException>(() => Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 3, PromptTuningInit = init, PromptTuningInitStateDictPath = "source.bin" }));
            Assert.Contains("prompt_tuning_init_state_dict_path", Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 3, PromptTuningInit = init })).Message);
            Assert.Contains("prompt_embeddings", Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new MultitaskPromptTuningConfig { NumVirtualTokens = 4, PromptTuningInit = init, PromptTuningInitStateDictPath = file })).Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    // The mean over the first dimension, by loops.
    static double[] Mean(Tensor t)
    {
        var v = t.ToDoubleArray();
        int tasks = t.Size(0), each = v.Length / tasks;
        return Enumerable.Range(0, each).Select(i => Enumerable.Range(0, tasks).Sum(k => v[k * each + i]) / tasks).ToArray();
    }
}

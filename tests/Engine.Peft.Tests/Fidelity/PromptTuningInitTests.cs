using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// Prompt tuning's initialisations as PEFT's <c>PromptEmbedding</c>: RANDOM is an nn.Embedding's N(0, 1), whatever the
/// scale of the token table; SAMPLE_VOCAB copies rows of the token table; TEXT copies the rows of the given tokens,
/// repeated and cut to the number of virtual tokens.
/// </summary>
public class PromptTuningInitTests
{
    // A tiny GPT whose token table has standard deviation 5, far from 1.
    static Gpt GptWithWideTable()
    {
        var gpt = TinyGpt();
        Scramble(((IPromptableModel)gpt).TokenEmbedding.Weight, 77, 5);
        return gpt;
    }

    static double[,] Rows(Tensor t)
    {
        var values = t.ToDoubleArray();
        int n = t.Size(0), d = t.Size(1);
        var rows = new double[n, d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) rows[i, j] = values[i * d + j];
        return rows;
    }

    static double[] Row(double[,] m, int i) => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray();

    static Tensor Prompt(PeftModel peft) => ((PromptTuning)peft.ModelPart("default")!).Embeddings;

    [Fact]
    public void RandomInit_IsStandardNormal_NotScaledByTheTokenTable()
    {
        var peft = Peft.Apply(GptWithWideTable(), new PromptTuningConfig { NumVirtualTokens = 600, PromptTuningInit = "RANDOM", Seed = 4 });
        var values = Prompt(peft).ToDoubleArray();
        Assert.Equal(600 * 8, values.Length);
        double mean = values.Average();
        double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1));
        // 4800 draws: the standard errors are 0.015 (mean) and 0.01 (std); the bounds are 5 or more of them.
        Assert.InRange(mean, -0.08, 0.08);
        Assert.InRange(std, 0.93, 1.07);
    }

    [Fact]
    public void SampleVocabInit_CopiesRowsOfTheTokenTable()
    {
        var gpt = GptWithWideTable();
        var table = Rows(((IPromptableModel)gpt).TokenEmbedding.Weight);
        var peft = Peft.Apply(gpt, new PromptTuningConfig { NumVirtualTokens = 40, PromptTuningInit = "SAMPLE_VOCAB", Seed = 4 });
        var prompt = Rows(Prompt(peft));
        var drawn = new HashSet<int>();
        for (int i = 0; i < 40; i++)
        {
            var row = Row(prompt, i);
            int match = Enumerable.Range(0, 13).FirstOrDefault(v => Row(table, v).SequenceEqual(row), -1);
            Assert.True(match >= 0, $"virtual token {i} is not a row of the token table");
            drawn.Add(match);
        }
        // 40 uniform draws from 13 rows: far more than one distinct row.
        Assert.True(drawn.Count > 5, $"only {drawn.Count} distinct rows drawn");
    }

    [Fact]
    public void TextInit_CopiesTheRowsOfTheTokensRepeatedToTheVirtualTokenCount()
    {
        var gpt = GptWithWideTable();
        var table = Rows(((IPromptableModel)gpt).TokenEmbedding.Weight);
        var peft = Peft.Apply(gpt, new PromptTuningConfig { NumVirtualTokens = 5, PromptTuningInit = "TEXT", InitTokenIds = [3, 7, 11], Seed = 4 });
        var prompt = Rows(Prompt(peft));
        // PEFT: init_token_ids * ceil(n / len), cut to n.
        int[] expected = [3, 7, 11, 3, 7];
        for (int i = 0; i < 5; i++) Assert.Equal(Row(table, expected[i]), Row(prompt, i));
        // A copy, not a view of the table.
        Scramble(Prompt(peft), 1);
        Assert.Equal(Row(table, 3), Row(Rows(((IPromptableModel)gpt).TokenEmbedding.Weight), 3));
    }
}

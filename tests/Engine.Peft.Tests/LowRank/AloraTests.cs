using Engine.Peft.LowRank;
using Engine.Peft.Tests.Laws;
using Xunit;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// aLoRA (Greenewald et al. 2025): the adapter changes nothing before the last occurrence of its invocation tokens, so
/// those positions are bit-identical to the base model's (and a row without the invocation is the base everywhere),
/// and generation with the KV cache equals generation that reruns the whole sequence; the offsets follow PEFT's rule;
/// merging and the combinations PEFT refuses are refused.
/// </summary>
public class AloraTests
{
    static readonly int[] Invocation = [7, 3];

    static LoraConfig Alora => new() { R = 2, LoraAlpha = 4, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"], AloraInvocationTokens = Invocation, InitLoraWeights = LoraInit.Random, Seed = 5 };

    static PeftModel<Gpt> Adapted()
    {
        var peft = Peft.Apply(LawCases.Base(), Alora);
        LawCases.Scramble(peft, std: 0.3);
        return peft;
    }

    // Row 0: the invocation starts at 2; row 1: at 1 and again at 7 (the last counts); row 2: nowhere.
    static readonly long[,] Rows =
    {
        { 1, 5, 7, 3, 9, 2, 11, 4, 6, 8, 12, 0 },
        { 2, 7, 3, 5, 5, 1, 0, 7, 3, 10, 4, 9 },
        { 3, 7, 1, 3, 7, 8, 3, 0, 11, 7, 12, 6 },
    };

    static readonly int[] Starts = [2, 7, int.MaxValue];

    [Fact]
    public void Offsets_CountFromTheStartOfTheLastOccurrenceToTheEnd_AndZeroWithoutOne()
    {
        Assert.Equal([10, 5, 0], AloraOffsets.Find(Tensor.FromArray(Rows), Invocation));
        // Overlapping occurrences: the last start wins; an invocation ending the row counts its own length.
        Assert.Equal(2, AloraOffsets.Find([4L, 4, 4], [4, 4]));
        Assert.Equal(4, AloraOffsets.Find([7L, 3, 1, 2], [7, 3, 1, 2]));
        Assert.Equal(0, AloraOffsets.Find([7L, 3], [7, 3, 1]));
        Assert.Throws<ArgumentException>(() => AloraOffsets.Find(Tensor.Zeros([2, 3]), Invocation));
    }

    [Fact]
    public void PositionsBeforeTheInvocation_AreBitIdenticalToTheBase_AndARowWithoutItIsTheBaseEverywhere()
    {
        var ids = Tensor.FromArray(Rows);
        double[] expected, actual;
        using (Autograd.Autograd.NoGrad())
        {
            expected = LawCases.Base().Forward(ids).ToDoubleArray();
            actual = Adapted().Forward(ids).ToDoubleArray();
        }
        int t = Rows.GetLength(1), v = expected.Length / (Rows.GetLength(0) * t);
        for (int i = 0; i < Rows.GetLength(0); i++)
            for (int j = 0; j < t; j++)
            {
                var e = expected.AsSpan((i * t + j) * v, v);
                var a = actual.AsSpan((i * t + j) * v, v);
                if (j < Starts[i])
                    Assert.True(e.SequenceEqual(a), $"row {i}, position {j} (before the invocation at {Starts[i]}) differs from the base");
                else
                {
                    double most = 0;
                    for (int k = 0; k < v; k++) most = Math.Max(most, Math.Abs(e[k] - a[k]));
                    Assert.True(most > 1e-3, $"row {i}, position {j} (from the invocation at {Starts[i]} on) is not adapted: {most}");
                }
            }
    }

    [Fact]
    public void GenerationWithTheKvCache_EqualsGenerationThatRerunsTheSequence()
    {
        var peft = Adapted();
        var prompt = Tensor.FromArray(new long[,] { { 1, 5, 7, 3, 9 }, { 4, 0, 12, 2, 6 } });
        const int steps = 8;
        var options = new SamplingOptions(Greedy: true);
        long[] cached;
        using (peft.TokenScope(prompt)) cached = Sampling.Generate(peft.Model, prompt, steps, options).ToArray<long>();

        // Without the cache: the whole sequence each step, with the invocation's start where the prompt put it
        // (offsets given explicitly, growing by one per generated token).
        var offsets = AloraOffsets.Find(prompt, Invocation);
        Assert.Equal([3, 0], offsets);
        var tokens = prompt;
        var cache = peft.Model.CreateCache();
        Tensor stepLogits;
        using (peft.TokenScope(prompt)) stepLogits = peft.Model.Forward(prompt, cache);
        for (int k = 0; k < steps; k++)
        {
            Tensor full;
            using (AloraOffsets.Begin("default", offsets.Select(o => o == 0 ? 0 : o + k).ToArray()))
            using (Autograd.Autograd.NoGrad())
                full = peft.Forward(tokens);
            var last = full.Select(1, -1);
            // The cache's logits for the newest position equal the rerun's (same numbers up to summation order).
            AssertClose(last, stepLogits.Select(1, -1), 1e-5, $"step {k}");
            var next = Sampling.NextToken(last, options).Reshape(2, 1);
            tokens = Tensor.Concat([tokens, next], 1);
            using (peft.TokenScope(prompt)) using (Autograd.Autograd.NoGrad()) stepLogits = peft.Model.Forward(next, cache);
        }
        Assert.Equal(tokens.ToArray<long>(), cached);

        // The adapter matters for the invoked row; the other row generates as the base does.
        var plain = Sampling.Generate(LawCases.Base(), prompt, steps, options).ToArray<long>();
        int width = prompt.Size(1) + steps;
        Assert.Equal(plain.AsSpan(width, width).ToArray(), cached.AsSpan(width, width).ToArray());
    }

    [Fact]
    public void WithoutATokenScope_TheModelItselfRunsTheBase_AsPeftDoesWithoutOffsets()
    {
        var peft = Adapted();
        var ids = Tensor.FromArray(Rows);
        using var _ = Autograd.Autograd.NoGrad();
        Assert.Equal(LawCases.Base().Forward(ids).ToDoubleArray(), peft.Model.Forward(ids).ToDoubleArray());
    }

    [Fact]
    public void Merge_IsRefused_AndLeavesAPlainLoraBesideItUnmerged()
    {
        var peft = Peft.Apply(LawCases.Base(), Alora with { AloraInvocationTokens = null }, "plain");
        peft.AddAdapter("invoked", Alora);
        LawCases.Scramble(peft);
        peft.SetAdapter("plain", "invoked");
        var before = LawCases.Bits(peft);
        var e = Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Contains("'invoked' (LORA)", e.Message);
        LawCases.AssertBitIdentical(before, LawCases.Bits(peft), "after the refused merge");
        Assert.Throws<NotSupportedException>(() => peft.MergeAndUnload());
        peft.Merge("plain");
    }

    [Fact]
    public void WeightedCombination_OfAnAloraAdapter_IsRefused()
    {
        var peft = Peft.Apply(LawCases.Base(), Alora with { AloraInvocationTokens = null }, "plain");
        peft.AddAdapter("invoked", Alora);
        var e = Assert.Throws<NotSupportedException>(() => peft.AddWeightedAdapter(["plain", "invoked"], [0.5, 0.5], "mix"));
        Assert.Contains("alora_invocation_tokens", e.Message);
        Assert.DoesNotContain("mix", peft.AdapterNames);
    }

    [Theory]
    [InlineData("dora")]
    [InlineData("mica")]
    [InlineData("pissa")]
    [InlineData("negative")]
    public void CombinationsThatWouldTouchTheBaseOrUnknownVariants_AreRefused(string what)
    {
        var config = what switch
        {
            "dora" => Alora with { UseDora = true },
            "mica" => Alora with { InitLoraWeights = LoraInit.Mica },
            "pissa" => Alora with { InitLoraWeights = LoraInit.Pissa },
            _ => Alora with { AloraInvocationTokens = [3, -1] },
        };
        var e = Assert.ThrowsAny<Exception>(() => Peft.Apply(LawCases.Base(), config));
        Assert.True(e is NotSupportedException or ArgumentException, e.GetType().Name);
        Assert.Contains("alora_invocation_tokens", e.Message);
    }

    [Fact]
    public void InvocationTokens_RoundTripThroughAdapterConfigJson()
    {
        var json = PeftConfigJson.ToJson(Alora);
        Assert.Equal("[7,3]", json["alora_invocation_tokens"]!.ToJsonString());
        var back = Assert.IsType<LoraConfig>(PeftConfigJson.FromJson(json));
        Assert.Equal(Invocation, back.AloraInvocationTokens);
    }
}

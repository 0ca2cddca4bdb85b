using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Recursion;

/// <summary>
/// Mixture-of-Recursions (spec structure-and-optimizers.md 1.1 and 1.2): the residual convention against the blocks run
/// directly, the nested sorted selections, causality of the inference path, cached decoding against the full forward,
/// the parameter count and gradients.
/// </summary>
public class MorGptTests
{
    const int Vocab = 11;

    static MorConfig Config(MorRouting routing = MorRouting.ExpertChoice, MorKvMode kv = MorKvMode.RecursionWise, int recursions = 3, int shared = 2,
        double[]? capacities = null, bool weighted = true, int width = 16) =>
        new(new GptConfig(Vocab, 16, width, 2 + recursions * shared, 2, MlpRatio: 2), recursions, routing, capacities, WeightedGating: weighted, KvMode: kv);

    static Tensor Ids(ulong seed, int batch, int length)
    {
        var g = new Generator(seed);
        var r = Tensor.Rand([batch * length], generator: g).ToDoubleArray();
        return Tensor.FromArray(r.Select(v => (long)(v * Vocab) % Vocab).ToArray(), [batch, length]);
    }

    // A model whose routers make varied, decisive decisions: every weight scrambled to O(0.3).
    static MorGpt Scrambled(MorConfig config, ulong seed)
    {
        var m = new MorGpt(config, new Generator(seed));
        ScrambleAll(m, seed + 100, 0.3);
        return m;
    }

    // The first scrambled model (over a few seeds) whose inference routing of ids gives positions different depths, with
    // some position at every depth: decoding and causality tests are vacuous if every token takes the same path.
    static MorGpt Varied(MorConfig config, Tensor ids)
    {
        for (ulong seed = 1; seed < 60; seed++)
        {
            var m = Scrambled(config, seed);
            m.Eval();
            m.Forward(ids);
            var depths = Depths(m, ids.Size(0), ids.Size(1)).Cast<int>().ToHashSet();
            if (depths.Count == config.Recursions) return m;
        }
        throw new InvalidOperationException("no seed gives varied routing");
    }

    // How many recursion steps processed each position in the last forward.
    static int[,] Depths(MorGpt m, int batch, int length)
    {
        var d = new int[batch, length];
        foreach (var sel in m.LastSelections)
            if (sel is not null)
                for (int b = 0; b < batch; b++)
                    foreach (var t in sel.Kept[b]) d[b, t]++;
        return d;
    }

    // The model's layers run directly: embeddings, first block, each step h ↦ h + gate(h)·Bk(h), last block, head.
    static Tensor Direct(MorGpt m, Tensor ids, Func<int, Tensor, Tensor> gate)
    {
        int t = ids.Size(1);
        var x = m.Tok.Forward(ids) + m.Pos.Forward(Tensor.Arange(0, t));
        x = m.First.Forward(x);
        for (int r = 0; r < m.Config.Recursions; r++)
        {
            var y = x;
            foreach (var block in m.Shared.Items) y = block.Forward(y);
            x = x + gate(r, x) * y;
        }
        return m.LnF.Forward(m.Last.Forward(x)).MatMul(m.Tok.Weight.T);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UnitCapacityUnweighted_EachStepAddsTheStackOutput(bool training)
    {
        // The reference's decoder layers return the residual-included stream, so a kept row becomes h + Bk(h), not Bk(h).
        var m = Scrambled(Config(capacities: [1, 1, 1], weighted: false), 1);
        m.Train(training);
        var ids = Ids(2, 2, 7);
        AssertClose(Direct(m, ids, (_, x) => Tensor.Ones([1], x.DType)), m.Forward(ids), 1e-4);
    }

    [Fact]
    public void UnitCapacityWeighted_AddsAlphaSigmoidTimesTheStackOutput()
    {
        var m = Scrambled(Config(capacities: [1, 1, 1]), 3);
        var ids = Ids(4, 2, 7);
        var routers = m.ExpertRouters!;
        var expected = Direct(m, ids, (r, x) => x.MatMul(routers[r].Router.Weight.T).Sigmoid() * 0.1);
        AssertClose(expected, m.Forward(ids), 1e-4);
    }

    // Causal attention of a block's attention layer written out: queries from xq, keys and values from xkv.
    static Tensor NaiveAttention(MultiHeadAttention attn, Tensor xq, Tensor xkv)
    {
        int b = xq.Size(0), t = xq.Size(1), d = attn.Options.DModel, h = attn.Options.Heads, hd = d / h;
        Tensor Heads(Tensor x, int offset) => attn.Qkv.Forward(x).Narrow(-1, offset, d).Reshape(b, t, h, hd).Transpose(1, 2);
        var q = Heads(xq, 0);
        var k = Heads(xkv, d);
        var v = Heads(xkv, 2 * d);
        var future = Tensor.Where(Tensor.Ones([t, t], DType.Float32).Triu(1).Gt(0.5), double.NegativeInfinity, 0.0);
        var weights = (q.MatMul(k.MT) / Math.Sqrt(hd) + future).Softmax(-1);
        return attn.Proj.Forward(weights.MatMul(v).Transpose(1, 2).Reshape(b, t, d));
    }

    [Fact]
    public void RecursiveSharing_LaterStepsAttendToTheFirstStepsKeysAndValues()
    {
        // Unit capacity, unweighted: step 0 is h + Bk(h); step 1 runs Bk again but its attention reads the keys and
        // values step 0 computed (from ln1 of the step-0 input), not its own.
        var m = Scrambled(Config(kv: MorKvMode.RecursiveSharing, recursions: 2, shared: 1, capacities: [1, 1], weighted: false), 31);
        var ids = Ids(32, 2, 6);
        var block = m.Shared[0];
        var x = m.First.Forward(m.Tok.Forward(ids) + m.Pos.Forward(Tensor.Arange(0, 6)));
        var h0 = x;
        x = x + block.Forward(x);
        var a = x + NaiveAttention(block.Attn, block.Ln1.Forward(x), block.Ln1.Forward(h0));
        x = x + (a + block.Mlp.Forward(block.Ln2.Forward(a)));
        var expected = m.LnF.Forward(m.Last.Forward(x)).MatMul(m.Tok.Weight.T);
        AssertClose(expected, m.Forward(ids), 1e-4);
        // Recursion-wise caching would differ: its step 1 attends to its own keys.
        var own = Direct(m, ids, (_, t) => Tensor.Ones([1], t.DType));
        Assert.True(own.Sub(expected).Abs().Max().ToDoubleArray()[0] > 1e-3);
    }

    [Fact]
    public void ExpertChoiceAuxLoss_IsTheScaledBceOfEachStepsRouterOnItsInput()
    {
        // Unit capacity keeps every token, so every target is 1 and each step's BCE is mean softplus(−z_r), z_r the
        // step's router on the hidden state entering that step; the three steps add up under one name.
        var m = Scrambled(Config(capacities: [1, 1, 1], weighted: false), 51);
        var ids = Ids(52, 2, 5);
        double expected = 0;
        var routers = m.ExpertRouters!;
        Direct(m, ids, (r, x) =>
        {
            var z = x.MatMul(routers[r].Router.Weight.T).ToDoubleArray();
            expected += 1e-3 * z.Average(v => Math.Log(1 + Math.Exp(-v)));
            return Tensor.Ones([1], x.DType);
        });
        using var aux = AuxiliaryLosses.Collect();
        m.Forward(ids);
        Assert.Equal(["mor_router_bce"], aux.Losses.Keys);
        AssertClose(expected, aux.Total().ToDoubleArray()[0], 1e-7);
    }

    [Fact]
    public void ExpertChoiceTraining_KeepsNestedSortedTopCapacitySelections()
    {
        var m = Scrambled(Config(), 5);
        m.Forward(Ids(6, 3, 9));
        var sel = m.LastSelections;
        var expectedCounts = new[] { 9, 6, 3 }; // ⌊β_r·T⌋ with β_r = (N_r − r + 1) / N_r
        for (int r = 0; r < 3; r++)
            for (int b = 0; b < 3; b++)
            {
                var kept = sel[r]!.Kept[b];
                Assert.Equal(expectedCounts[r], kept.Length);
                Assert.Equal(kept.Order(), kept);
                // A token dropped at step r − 1 is never selected later.
                if (r > 0) Assert.Subset(sel[r - 1]!.Kept[b].ToHashSet(), kept.ToHashSet());
            }
    }

    [Theory]
    [InlineData(MorRouting.ExpertChoice)]
    [InlineData(MorRouting.TokenChoice)]
    public void InferencePath_IsCausal(MorRouting routing)
    {
        int length = 8;
        var ids = Ids(8, 1, length);
        var m = Varied(Config(routing), ids);
        var logits = m.Forward(ids);
        var depth = Depths(m, 1, length);
        var all = Enumerable.Range(0, length).Select(t => depth[0, t]).ToArray();
        Assert.True(all.Distinct().Count() > 1, $"routing must vary for the test to mean anything, depths [{string.Join(", ", all)}]");
        var values = ids.ToArray<long>();
        for (int t = 0; t + 1 < length; t++)
        {
            var changed = (long[])values.Clone();
            changed[t + 1] = (changed[t + 1] + 5) % Vocab;
            var other = m.Forward(Tensor.FromArray(changed, [1, length]));
            var otherDepth = Depths(m, 1, length);
            for (int s = 0; s <= t; s++) Assert.Equal(depth[0, s], otherDepth[0, s]);
            AssertClose(logits.Narrow(1, 0, t + 1), other.Narrow(1, 0, t + 1), 1e-5, $"positions up to {t}");
        }
    }

    [Fact]
    public void TopKTraining_LetsALaterTokenChangeAnEarlierDepth()
    {
        // The leak the threshold path removes (spec 1.2): with top-k over the sequence, the last token competes with
        // earlier ones. The causal test above would catch this if the inference path still used top-k.
        var m = Scrambled(Config(capacities: [1, 0.5, 0.25]), 9);
        int length = 8;
        var values = Ids(10, 1, length).ToArray<long>();
        m.Forward(Tensor.FromArray(values, [1, length]));
        var baseline = Depths(m, 1, length);
        bool leaked = false;
        for (long v = 0; v < Vocab && !leaked; v++)
        {
            var changed = (long[])values.Clone();
            changed[length - 1] = v;
            m.Forward(Tensor.FromArray(changed, [1, length]));
            var d = Depths(m, 1, length);
            for (int s = 0; s < length - 1; s++) leaked |= d[0, s] != baseline[0, s];
        }
        Assert.True(leaked);
    }

    public static TheoryData<MorRouting, MorKvMode, int> DecodeCases() => new()
    {
        { MorRouting.ExpertChoice, MorKvMode.RecursionWise, 1 },
        { MorRouting.ExpertChoice, MorKvMode.RecursionWise, 2 },
        { MorRouting.ExpertChoice, MorKvMode.RecursiveSharing, 1 },
        { MorRouting.ExpertChoice, MorKvMode.RecursiveSharing, 2 },
        { MorRouting.TokenChoice, MorKvMode.RecursionWise, 1 },
        { MorRouting.TokenChoice, MorKvMode.RecursionWise, 2 },
        { MorRouting.TokenChoice, MorKvMode.RecursiveSharing, 1 },
        { MorRouting.TokenChoice, MorKvMode.RecursiveSharing, 2 },
    };

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void CachedDecoding_ReproducesTheFullForward(MorRouting routing, MorKvMode kv, int batch)
    {
        int length = 9;
        var ids = Ids(12, batch, length);
        var m = Varied(Config(routing, kv), ids);
        var full = m.Forward(ids);
        var depth = Depths(m, batch, length);
        var seen = new HashSet<int>();
        foreach (var d in depth) seen.Add(d);
        Assert.True(seen.Count > 1, "routing must vary for the test to mean anything");

        // One token at a time, then in uneven chunks (several new positions per call).
        foreach (var chunks in new[] { Enumerable.Repeat(1, length).ToArray(), new[] { 4, 1, 3, 1 } })
        {
            var cache = m.CreateCache();
            var parts = new List<Tensor>();
            int start = 0;
            foreach (var c in chunks)
            {
                parts.Add(m.Forward(ids.Narrow(1, start, c), cache));
                start += c;
            }
            Assert.Equal(length, cache.Length);
            AssertClose(full, Tensor.Concat(parts.ToArray(), 1), 1e-4, $"chunks [{string.Join(", ", chunks)}]");
        }
    }

    [Theory]
    [InlineData(MorRouting.ExpertChoice)]
    [InlineData(MorRouting.TokenChoice)]
    public void GreedyGeneration_MatchesArgmaxOfTheFullForward(MorRouting routing)
    {
        var prompt = Ids(41, 2, 3);
        var m = Varied(Config(routing), prompt);
        var generated = Sampling.Generate(m, m.Config.Base.ContextLength, prompt, 6, new SamplingOptions(Greedy: true));
        // The oracle re-runs the whole sequence without a cache for every new token.
        var tokens = prompt;
        for (int i = 0; i < 6; i++)
            tokens = Tensor.Concat([tokens, m.Forward(tokens).Select(1, -1).ArgMax(-1).Unsqueeze(1)], 1);
        Assert.Equal(tokens.ToArray<long>(), generated.ToArray<long>());
    }

    [Fact]
    public void RecursionWiseCache_StoresOnlyTheTokensEachStepProcessed()
    {
        var ids = Ids(14, 1, 9);
        var m = Varied(Config(), ids);
        m.Forward(ids);
        var kept = m.LastSelections.Select(s => s?.Kept[0].Length ?? 0).ToArray();
        var cache = m.CreateCache();
        for (int t = 0; t < 9; t++) m.Forward(ids.Narrow(1, t, 1), cache);
        var recursion = (RecursionCache)cache[1];
        for (int r = 0; r < 3; r++) Assert.Equal(kept[r], recursion.Slots(r));
        Assert.True(kept[2] < 9);
    }

    [Fact]
    public void TopKExpertChoice_RefusesACache()
    {
        var m = new MorGpt(Config(), new Generator(1));
        var ex = Assert.Throws<InvalidOperationException>(() => m.Forward(Ids(1, 1, 3), m.CreateCache()));
        Assert.Contains("not causal", ex.Message);
    }

    [Theory]
    [InlineData(MorRouting.ExpertChoice)]
    [InlineData(MorRouting.TokenChoice)]
    public void ParameterCount_StoresTheSharedBlocksOnce(MorRouting routing)
    {
        int d = 16, v = Vocab, ctx = 16, hidden = 2 * d, recursions = 3, shared = 2;
        var m = new MorGpt(Config(routing), new Generator(1));
        // ln1 + qkv + proj + ln2 + mlp (fc, proj), with biases.
        long block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d);
        long routers = routing == MorRouting.ExpertChoice ? recursions * d : d * recursions;
        long expected = v * d + ctx * d + (2 + shared) * block + routers + 2 * d;
        Assert.Equal(expected, m.ParameterCount());
        Assert.Equal(expected, m.StateDict().Values.Sum(t => t.Numel));
    }

    [Fact]
    public void BadShape_ThrowsANamedError()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MorGpt(new MorConfig(new GptConfig(Vocab, 16, 16, 6, 2), 3)));
        Assert.Contains("MorConfig", ex.Message);
    }

    public static TheoryData<MorRouting, MorKvMode, bool> GradientCases() => new()
    {
        { MorRouting.ExpertChoice, MorKvMode.RecursionWise, true },
        { MorRouting.ExpertChoice, MorKvMode.RecursionWise, false },
        { MorRouting.ExpertChoice, MorKvMode.RecursiveSharing, true },
        { MorRouting.TokenChoice, MorKvMode.RecursionWise, true },
        { MorRouting.TokenChoice, MorKvMode.RecursiveSharing, true },
    };

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void Gradients_MatchFiniteDifferences(MorRouting routing, MorKvMode kv, bool training)
    {
        // Float64, decisive routers: the selections stay fixed under the finite-difference steps, so the loss is smooth
        // in every parameter, routers included (through the gates and the auxiliary losses). Two rows, so the
        // evaluation (threshold) path pads rows that keep different counts.
        var m = Scrambled(Config(routing, kv, recursions: 2, shared: 1, width: 8), 21);
        m.To(DType.Float64);
        m.Train(training);
        var ids = Ids(22, 2, 6);
        var targets = Ids(23, 2, 6);
        AssertParameterGradients(m, () =>
        {
            using var aux = AuxiliaryLosses.Collect();
            var loss = Losses.CrossEntropy(m.Forward(ids), targets);
            if (training) Assert.NotEmpty(aux.Losses);
            return loss + aux.Total();
        }, perTensor: 4);
    }
}

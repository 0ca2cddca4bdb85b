using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// AdaLoRA's importance score against PEFT's <c>RankAllocator</c> written out by hand: I = |p * grad p|,
/// Ibar = beta1 Ibar + (1 - beta1) I, U = beta2 U + (1 - beta2) |I - Ibar| (the updated Ibar), s = Ibar U,
/// S_i = s(E_i) + mean_j s(A_ij) + mean_k s(B_ki); masking keeps the triplets with the highest S.
/// </summary>
public class AdaLoraImportanceTests
{
    const double Beta1 = 0.8, Beta2 = 0.6;   // different on purpose: a swap of the two changes every score

    static AdaLoraConfig Config() => new()
    {
        InitR = 3, TargetR = 1, Tinit = 0, Tfinal = 2, TotalStep = 10, DeltaT = 1, Beta1 = Beta1, Beta2 = Beta2,
        LoraAlpha = 6, TargetModules = ["qkv"], Seed = 11,
    };

    // Sets every lora_A/E/B to seeded values and gives it a seeded gradient; returns (value, gradient) by tensor.
    static Dictionary<Tensor, (double[] P, double[] G)> SetValuesAndGradients(List<AdaLoraLayer> layers, ulong seed)
    {
        var set = new Dictionary<Tensor, (double[], double[])>(ReferenceEqualityComparer.Instance);
        foreach (var layer in layers)
            foreach (var p in new[] { layer.LoraA("default"), layer.LoraE("default"), layer.LoraB("default") })
            {
                Scramble(p, seed++, 1);
                p.Grad = Tensor.Randn(p.Shape, 0, 1, p.DType, new Generator(seed++));
                set[p] = (p.ToDoubleArray(), p.Grad.ToDoubleArray());
            }
        return set;
    }

    // PEFT's update of the two EMAs for one parameter, entry by entry.
    static (double[] Ibar, double[] U) Update(double[] p, double[] g, double[]? ibar0 = null, double[]? u0 = null)
    {
        int n = p.Length;
        var ibar = new double[n];
        var u = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sensitivity = Math.Abs(p[i] * g[i]);
            ibar[i] = Beta1 * (ibar0?[i] ?? 0) + (1 - Beta1) * sensitivity;
            u[i] = Beta2 * (u0?[i] ?? 0) + (1 - Beta2) * Math.Abs(sensitivity - ibar[i]);
        }
        return (ibar, u);
    }

    // S_i = s(E_i) + mean_j s(A_ij) + mean_k s(B_ki), s = Ibar U; A [r, in], E [r, 1], B [out, r].
    static double[] TripletScores(double[] sA, double[] sE, double[] sB, int r, int inF, int outF)
    {
        var scores = new double[r];
        for (int i = 0; i < r; i++)
        {
            double a = 0, b = 0;
            for (int j = 0; j < inF; j++) a += sA[i * inF + j];
            for (int k = 0; k < outF; k++) b += sB[k * r + i];
            scores[i] = sE[i] + a / inF + b / outF;
        }
        return scores;
    }

    static double[] Product((double[] Ibar, double[] U) e) => e.Ibar.Select((v, i) => v * e.U[i]).ToArray();

    static (PeftModel Peft, AdaLoraModelPart Part, List<AdaLoraLayer> Layers) Build()
    {
        var peft = Peft.Apply(TinyGpt(layers: 2), Config());
        var part = (AdaLoraModelPart)peft.ModelPart("default")!;
        var layers = peft.AdapterLayers().Select(l => (AdaLoraLayer)l.Layer).ToList();
        Assert.Equal(2, layers.Count);
        return (peft, part, layers);
    }

    [Fact]
    public void TripletScores_AfterOneStepFromZero_AreSensitivityTimesUncertaintyAveragedPerTriplet()
    {
        var (peft, part, layers) = Build();
        var set = SetValuesAndGradients(layers, 100);
        peft.OnStep(1);   // 1 < T - t_final = 8: the EMAs are updated

        foreach (var layer in layers)
        {
            var s = new[] { layer.LoraA("default"), layer.LoraE("default"), layer.LoraB("default") }
                .Select(p => Product(Update(set[p].P, set[p].G))).ToArray();
            // After one step from zero: Ibar = (1 - b1) I and U = (1 - b2) |I - Ibar| = (1 - b2) b1 I, so s = 0.2 * 0.32 I^2.
            var expected = TripletScores(s[0], s[1], s[2], 3, 8, 24);
            var i0 = Math.Abs(set[layer.LoraE("default")].P[0] * set[layer.LoraE("default")].G[0]);
            Assert.Equal(0.2 * 0.4 * 0.8 * i0 * i0, s[1][0], 12);
            AssertClose(expected, part.TripletScores(layer), 1e-5, "S");
            Assert.All(part.TripletScores(layer), v => Assert.True(v > 0, $"importance scores are non-negative, got {v}"));
        }
    }

    [Fact]
    public void Masking_KeepsTheTripletsWithTheHighestHandComputedScores()
    {
        var (peft, part, layers) = Build();
        var set = SetValuesAndGradients(layers, 200);
        var scores = layers.Select(layer =>
        {
            var s = new[] { layer.LoraA("default"), layer.LoraE("default"), layer.LoraB("default") }
                .Select(p => Product(Update(set[p].P, set[p].G))).ToArray();
            return TripletScores(s[0], s[1], s[2], 3, 8, 24);
        }).ToList();
        peft.OnStep(1);

        // b(1) = floor((6 - 2) (1 - 1/8)^3 + 2) = floor(4.68) = 4 of the 6 triplets stay.
        Assert.Equal(4, part.LastBudget);
        var ranked = scores.SelectMany((s, l) => s.Select((v, i) => (v, l, i))).OrderByDescending(t => t.v).ToList();
        Assert.True(ranked[3].v > ranked[4].v * (1 + 1e-4), "the seeded scores must not tie at the budget");
        var kept = ranked.Take(4).Select(t => (t.l, t.i)).ToHashSet();
        var pattern = ((AdaLoraConfig)peft.PeftConfigs["default"]).RankPattern!;
        for (int l = 0; l < 2; l++)
        {
            var e = layers[l].LoraE("default").ToDoubleArray();
            var keep = pattern[$"transformer.h.{l}.attn.c_attn.lora_E"];
            for (int i = 0; i < 3; i++)
            {
                bool expectKept = kept.Contains((l, i));
                Assert.Equal(expectKept, keep[i]);
                if (expectKept) Assert.Equal(set[layers[l].LoraE("default")].P[i], e[i]);
                else Assert.Equal(0.0, e[i]);
            }
        }
    }

    [Fact]
    public void TripletScores_AfterTwoSteps_FollowTheExponentialMovingAverages()
    {
        var (peft, part, layers) = Build();
        var first = SetValuesAndGradients(layers, 300);
        peft.OnStep(1);
        var second = SetValuesAndGradients(layers, 400);
        peft.OnStep(2);
        foreach (var layer in layers)
        {
            var s = new[] { layer.LoraA("default"), layer.LoraE("default"), layer.LoraB("default") }.Select(p =>
            {
                var (ibar, u) = Update(first[p].P, first[p].G);
                return Product(Update(second[p].P, second[p].G, ibar, u));
            }).ToArray();
            AssertClose(TripletScores(s[0], s[1], s[2], 3, 8, 24), part.TripletScores(layer), 1e-5, "S");
        }
    }
}

namespace Engine.Nn;

/// <summary>
/// One pre-norm transformer block of a <see cref="GptSupernet"/> (as <see cref="TransformerBlock"/>: x + attn(ln1 x),
/// then + mlp(ln2 x)), every layer mixed over the embedding width (and heads / MLP ratio):
/// <list type="bullet">
/// <item>q, k, v and the output projection are <see cref="EntangledLinear"/>s over the widths (slices [e, e]);</item>
/// <item>the attention core has no weights to entangle, and its head split depends on (e, h), so it is mixed
/// DARTS-style over the joint choices: Σ_{e,h} w_e w_h pad0(SDPA_h(q[:e], k[:e], v[:e]));</item>
/// <item>the MLP's fc [r·e, e] and proj [e, r·e] are entangled over the joint (width, ratio) choices with weights
/// vec(w_embed ⊗ w_mlp);</item>
/// <item>LayerNorms are <see cref="MixedLayerNorm"/>.</item>
/// </list>
/// Parameter names: <c>ln1</c>, <c>q</c>, <c>k</c>, <c>v</c>, <c>proj</c>, <c>ln2</c>, <c>fc</c>, <c>fc_proj</c>.
/// </summary>
public sealed class SupernetBlock : Module
{
    readonly GptSupernetConfig _config;
    readonly Dropout _noDropout = new(0);

    /// <summary>A block of <paramref name="config"/>'s space at the maximum sizes.</summary>
    public SupernetBlock(GptSupernetConfig config, Generator? generator = null)
    {
        _config = config;
        var widths = config.EmbedChoices.Select(e => (e, e)).ToArray();
        var joint = config.EmbedChoices.SelectMany(e => config.MlpRatioChoices.Select(r => (e, r))).ToArray();
        RegisterModule("ln1", new MixedLayerNorm(config.EmbedChoices, config.LayerNormEps));
        foreach (var n in new[] { "q", "k", "v", "proj" }) RegisterModule(n, new EntangledLinear(widths, true, generator));
        RegisterModule("ln2", new MixedLayerNorm(config.EmbedChoices, config.LayerNormEps));
        RegisterModule("fc", new EntangledLinear(joint.Select(j => (j.r * j.e, j.e)).ToArray(), true, generator));
        RegisterModule("fc_proj", new EntangledLinear(joint.Select(j => (j.e, j.r * j.e)).ToArray(), true, generator));
    }

    /// <summary>The named entangled linear (<c>q</c>, <c>k</c>, <c>v</c>, <c>proj</c>, <c>fc</c>, <c>fc_proj</c>).</summary>
    public EntangledLinear Linear(string name) => (EntangledLinear)Child(name);

    /// <summary>The named mixed LayerNorm (<c>ln1</c>, <c>ln2</c>).</summary>
    public MixedLayerNorm Norm(string name) => (MixedLayerNorm)Child(name);

    /// <summary>x [B, T, E_max] to [B, T, E_max] under width weights [|E|], head weights [|H|] and MLP weights [|M|].</summary>
    public Tensor Forward(Tensor x, Tensor embed, Tensor heads, Tensor mlp)
    {
        x = x + Attention(Norm("ln1").Forward(x, embed), embed, heads);
        var joint = ArchitectureWeights.Joint(embed, mlp);
        var hidden = Linear("fc").Forward(Norm("ln2").Forward(x, embed), joint).Gelu(tanhApproximation: true);
        return x + Linear("fc_proj").Forward(hidden, joint);
    }

    Tensor Attention(Tensor x, Tensor embed, Tensor heads)
    {
        int b = x.Size(0), t = x.Size(1), eMax = _config.EmbedMax;
        var q = Linear("q").Forward(x, embed);
        var k = Linear("k").Forward(x, embed);
        var v = Linear("v").Forward(x, embed);
        var we = ArchitectureWeights.ConstantValues(embed);
        var wh = ArchitectureWeights.ConstantValues(heads);
        Tensor? mixed = null;
        for (int i = 0; i < _config.EmbedChoices.Length; i++)
        {
            if (we is not null && we[i] == 0) continue;
            int e = _config.EmbedChoices[i];
            for (int j = 0; j < _config.HeadChoices.Length; j++)
            {
                if (wh is not null && wh[j] == 0) continue;
                int h = _config.HeadChoices[j], d = e / h;
                Tensor Split(Tensor z) => z.Narrow(-1, 0, e).Reshape(b, t, h, d).Transpose(1, 2);
                var y = ScaledDotProductAttention.Compute(Split(q), Split(k), Split(v), causal: true, past: 0, keyPaddingMask: null, _noDropout, nameof(SupernetBlock));
                if (e < eMax) y = y.Pad([0, eMax - e]);
                var term = y * (embed.Narrow(0, i, 1) * heads.Narrow(0, j, 1));
                mixed = mixed is null ? term : mixed + term;
            }
        }
        return Linear("proj").Forward(mixed!, embed);
    }
}

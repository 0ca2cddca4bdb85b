namespace Engine.Nn;

/// <summary>
/// TangleNAS's weight-entangled GPT supernet (Sukthanker et al. 2024; <c>search_spaces/nanoGPT/model_search.py</c>):
/// every architecture of a <see cref="GptSupernetConfig"/> space is a slice of one maximum-size GPT. Token and
/// position tables [·, E_max] are mixed by width as the linears are (column masks Σ_e w_e 1[j &lt; e]); the head is tied
/// to the mixed token table; depth is mixed by weighting the block outputs at each depth of the choice set
/// (Σ_l w_l x_l). Architecture parameters (init 1e-3·N(0, 1), spec §6) are kept apart from the weights:
/// <see cref="Module.Parameters"/> holds only the weights, <see cref="ArchParameters"/> the α's.
/// </summary>
public sealed class GptSupernet : Module
{
    readonly Tensor _widthMasks;

    /// <summary>A supernet of <paramref name="config"/>'s space; <paramref name="generator"/> seeds weights and α's.</summary>
    /// <exception cref="ArgumentException">The space is not valid (<see cref="GptSupernetConfig.Validate"/>).</exception>
    public GptSupernet(GptSupernetConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        int eMax = config.EmbedMax, n = config.LayersMax;
        var tok = RegisterParameter("tok", Tensor.Zeros(config.VocabSize, eMax));
        var pos = RegisterParameter("pos", Tensor.Zeros(config.ContextLength, eMax));
        Init.Normal(tok, 0, 0.02, generator);
        Init.Normal(pos, 0, 0.02, generator);
        RegisterModule("blocks", new ModuleList<SupernetBlock>(Enumerable.Range(0, n).Select(_ => new SupernetBlock(config, generator)).ToList()));
        RegisterModule("ln_f", new MixedLayerNorm(config.EmbedChoices, config.LayerNormEps));
        // GPT-2's residual-output scaling (as Gpt): N(0, 0.02 / sqrt(2 L_max)).
        foreach (var block in Blocks.Items)
            foreach (var name in new[] { "proj", "fc_proj" }) Init.Normal(block.Linear(name).Weight, 0, 0.02 / Math.Sqrt(2 * n), generator);

        var masks = new float[config.EmbedChoices.Length * eMax];
        for (int i = 0; i < config.EmbedChoices.Length; i++)
            for (int j = 0; j < config.EmbedChoices[i]; j++) masks[i * eMax + j] = 1;
        _widthMasks = Tensor.FromArray(masks, [config.EmbedChoices.Length, eMax]);

        Tensor Alpha(params int[] shape)
        {
            var a = Tensor.Randn(shape, generator: generator) * 1e-3;
            a.RequiresGrad = true;
            return a;
        }
        AlphaLayers = Alpha(config.LayerChoices.Length);
        AlphaEmbed = Alpha(config.EmbedChoices.Length);
        AlphaHeads = Alpha(n, config.HeadChoices.Length);
        AlphaMlp = Alpha(n, config.MlpRatioChoices.Length);
    }

    /// <summary>The search space.</summary>
    public GptSupernetConfig Config { get; }

    /// <summary>The blocks (all L_max of them).</summary>
    public ModuleList<SupernetBlock> Blocks => (ModuleList<SupernetBlock>)Child("blocks");

    /// <summary>Depth logits α_layers [|L|].</summary>
    public Tensor AlphaLayers { get; private set; }

    /// <summary>Width logits α_embed [|E|] (global).</summary>
    public Tensor AlphaEmbed { get; private set; }

    /// <summary>Head logits α_heads [L_max, |H|].</summary>
    public Tensor AlphaHeads { get; private set; }

    /// <summary>MLP-ratio logits α_mlp [L_max, |M|].</summary>
    public Tensor AlphaMlp { get; private set; }

    /// <summary>The architecture parameters (for their own optimiser).</summary>
    public IReadOnlyList<Tensor> ArchParameters => [AlphaLayers, AlphaEmbed, AlphaHeads, AlphaMlp];

    /// <summary>The weights a sampler draws from the α's for one step.</summary>
    public ArchitectureWeights SampleWeights(IArchitectureSampler sampler) =>
        new(sampler.Weights(AlphaLayers), sampler.Weights(AlphaEmbed), sampler.Weights(AlphaHeads), sampler.Weights(AlphaMlp));

    /// <summary>
    /// The final architecture: argmax of each α row, decoded against its own choice list. (The released code decodes
    /// the MLP index of the joint argmax modulo the embed list's length; spec §6 notes the bug. Separate α's per
    /// choice avoid the joint index; argmax α = argmax softmax α = argmax (ELU(α) + 1) for both samplers.)
    /// </summary>
    public SupernetArchitecture Argmax()
    {
        static int Arg(double[] v, int offset, int count) => Enumerable.Range(0, count).MaxBy(i => v[offset + i]);
        var l = AlphaLayers.Detach().To(DType.Float64).ToArray<double>();
        var e = AlphaEmbed.Detach().To(DType.Float64).ToArray<double>();
        var h = AlphaHeads.Detach().To(DType.Float64).ToArray<double>();
        var m = AlphaMlp.Detach().To(DType.Float64).ToArray<double>();
        int n = Config.LayersMax, nh = Config.HeadChoices.Length, nm = Config.MlpRatioChoices.Length;
        return new(Config.EmbedChoices[Arg(e, 0, e.Length)], Config.LayerChoices[Arg(l, 0, l.Length)],
            Enumerable.Range(0, n).Select(i => Config.HeadChoices[Arg(h, i * nh, nh)]).ToArray(),
            Enumerable.Range(0, n).Select(i => Config.MlpRatioChoices[Arg(m, i * nm, nm)]).ToArray());
    }

    /// <summary>Converts the α's too when the weights change precision (GradCheck runs in Float64).</summary>
    public GptSupernet ToPrecision(DType dtype)
    {
        To(dtype);
        Tensor Convert(Tensor a)
        {
            var c = a.Detach().To(dtype);
            c.RequiresGrad = true;
            return c;
        }
        (AlphaLayers, AlphaEmbed, AlphaHeads, AlphaMlp) = (Convert(AlphaLayers), Convert(AlphaEmbed), Convert(AlphaHeads), Convert(AlphaMlp));
        return this;
    }

    /// <summary>Not used: the supernet needs choice weights; call <see cref="Forward(Tensor, ArchitectureWeights)"/>.</summary>
    public override Tensor Forward(Tensor ids) => throw new InvalidOperationException("GptSupernet: Forward needs choice weights (ArchitectureWeights)");

    /// <summary>Token ids [B, T] to logits [B, T, V] under the choice weights <paramref name="w"/>.</summary>
    /// <exception cref="ArgumentException">Ids that are not [B, T] within the context, or weights of the wrong shapes.</exception>
    public Tensor Forward(Tensor ids, ArchitectureWeights w)
    {
        if (ids.Rank != 2) throw new ArgumentException($"GptSupernet: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        int t = ids.Size(1), n = Config.LayersMax;
        if (t > Config.ContextLength) throw new ArgumentException($"GptSupernet: {t} positions exceed the context length {Config.ContextLength}");
        CheckShape(w.Layers, [Config.LayerChoices.Length], "layers");
        CheckShape(w.Embed, [Config.EmbedChoices.Length], "embed");
        CheckShape(w.Heads, [n, Config.HeadChoices.Length], "heads");
        CheckShape(w.Mlp, [n, Config.MlpRatioChoices.Length], "mlp");

        // Column masks Σ_e w_e 1[j < e] mix the tables by width (pad0 of the first e columns).
        var mask = (w.Embed.Unsqueeze(1) * (_widthMasks.DType == w.Embed.DType ? _widthMasks : _widthMasks.To(w.Embed.DType))).Sum(0);
        var tok = GetParameter("tok") * mask;
        var x = tok.Embedding(ids) + (GetParameter("pos") * mask).Narrow(0, 0, t);

        var depthWeights = ArchitectureWeights.ConstantValues(w.Layers);
        int deepest = depthWeights is null ? n : Config.LayerChoices.Where((_, i) => depthWeights[i] != 0).Max();
        Tensor? mixed = null;
        for (int d = 1; d <= deepest; d++)
        {
            x = Blocks[d - 1].Forward(x, w.Embed, w.Heads.Select(0, d - 1), w.Mlp.Select(0, d - 1));
            int li = Array.IndexOf(Config.LayerChoices, d);
            if (li < 0 || depthWeights is not null && depthWeights[li] == 0) continue;
            var term = x * w.Layers.Narrow(0, li, 1);
            mixed = mixed is null ? term : mixed + term;
        }
        var h = ((MixedLayerNorm)Child("ln_f")).Forward(mixed!, w.Embed);
        return h.MatMul(tok.T);
    }

    static void CheckShape(Tensor w, int[] shape, string name)
    {
        if (!w.Shape.SequenceEqual(shape))
            throw new ArgumentException($"GptSupernet: {name} weights must be {Shapes.Format(shape)}, got {Shapes.Format(w.Shape)}");
    }
}


namespace Engine.Nn;

/// <summary>
/// A GPT decoder language model (Radford et al. 2019): token (+ position) embeddings, pre-norm transformer blocks,
/// a final LayerNorm and a head tied to the token embedding. Parameter names: <c>tok.weight</c>, <c>pos.weight</c>,
/// <c>blocks.{i}.ln1/attn/ln2/mlp...</c>, <c>ln_f</c>, <c>head.weight</c> (untied only).
/// Each block's token mixer is chosen by <see cref="GptConfig.Mixers"/> (attention by default; <c>blocks.{i}.s4d.*</c>
/// for S4D layers, see <see cref="TokenMixers"/>).
/// Initialisation as GPT-2: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers); S4D parameters keep their own.
/// </summary>
public sealed class Gpt : Module
{
    public Gpt(GptConfig config, Generator? generator = null)
    {
        Config = config;
        Tok = RegisterModule("tok", new Embedding(config.VocabSize, config.DModel, generator));
        if (!config.Rotary) Pos = RegisterModule("pos", new Embedding(config.ContextLength, config.DModel, generator));
        Blocks = RegisterModule("blocks", new ModuleList<TransformerBlock>(TokenMixers.Resolve(config).Select(kind =>
        {
            var (slot, mixer) = TokenMixers.Create(kind, config, generator);
            return new TransformerBlock(slot, mixer, config.DModel, config.MlpRatio * config.DModel, config.LayerNormEps, config.GeluTanh, config.Dropout, generator);
        }).ToList()));
        LnF = RegisterModule("ln_f", new LayerNorm(config.DModel, config.LayerNormEps));
        EmbeddingDropout = RegisterModule("drop", new Dropout(config.Dropout, generator));
        if (!config.TiedHead) Head = RegisterModule("head", new Linear(config.DModel, config.VocabSize, bias: false, generator));

        // GPT-2 initialisation (section 2.3 of the paper): N(0, 0.02), residual outputs scaled by 1/sqrt(2 L).
        // The S4D parameters keep their initialisation (S4D paper, section 4): their scale defines the dynamics.
        var ssm = NamedModules().Where(m => m.Module is S4D).SelectMany(m => m.Module.Parameters()).ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in NamedParameters())
        {
            if (ssm.Contains(p)) continue;
            if (name.EndsWith(".bias")) Init.Zeros(p);
            else if (name.Contains("ln")) continue;
            else if (name.EndsWith("attn.proj.weight") || name.EndsWith("mlp.proj.weight")) Init.Normal(p, 0, 0.02 / Math.Sqrt(2 * config.Layers), generator);
            else Init.Normal(p, 0, 0.02, generator);
        }
    }

    public GptConfig Config { get; }
    public Embedding Tok { get; }
    public Embedding? Pos { get; }
    public ModuleList<TransformerBlock> Blocks { get; }
    public LayerNorm LnF { get; }
    public Dropout EmbeddingDropout { get; }
    public Linear? Head { get; }

    public override Tensor Forward(Tensor ids) => Forward(ids, null);

    /// <summary>An empty cache for incremental decoding: one state per layer, as each layer's token mixer needs.</summary>
    public KvCache CreateCache() => new(Blocks.Items.Select(b => b.CreateState()));

    /// <summary>Token ids [B, T] to logits [B, T, V]. With a cache, ids hold only the new positions.</summary>
    public Tensor Forward(Tensor ids, KvCache? cache, Tensor? keyPaddingMask = null)
    {
        if (ids.Rank != 2) throw new ArgumentException($"Gpt: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        return ForwardEmbeddings(Tok.Forward(ids), cache, keyPaddingMask);
    }

    /// <summary>
    /// Token embeddings [B, T, C] (what <see cref="Tok"/> gives, or learned ones such as prompt tuning's virtual
    /// tokens) to logits [B, T, V]; positions continue after the cache's.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor embeddings, KvCache? cache, Tensor? keyPaddingMask = null)
    {
        if (embeddings.Rank != 3 || embeddings.Size(2) != Config.DModel)
            throw new ArgumentException($"Gpt: expects token embeddings [batch, time, {Config.DModel}], got {Shapes.Format(embeddings.Shape)}");
        int t = embeddings.Size(1), past = cache?.Length ?? 0;
        if (past + t > Config.ContextLength && !Config.Rotary)
            throw new ArgumentException($"Gpt: {past + t} positions exceed the context length {Config.ContextLength}");
        var x = embeddings;
        if (Pos is not null) x = x + Pos.Forward(Tensor.Arange(past, past + t, device: embeddings.Device));
        x = EmbeddingDropout.Forward(x);
        for (int i = 0; i < Blocks.Count; i++) x = Blocks[i].Forward(x, keyPaddingMask, cache?[i]);
        x = LnF.Forward(x);
        return Head is not null ? Child("head").Forward(x) : x.MatMul(Tok.Weight.T);
    }
}

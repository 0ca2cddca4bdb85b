
namespace Engine.Nn;

/// <summary>
/// A GPT decoder language model (Radford et al. 2019): token (+ position) embeddings, pre-norm transformer blocks,
/// a final LayerNorm and a head tied to the token embedding. Parameter names: <c>tok.weight</c>, <c>pos.weight</c>,
/// <c>blocks.{i}.ln1/attn/ln2/mlp...</c>, <c>ln_f</c>, <c>head.weight</c> (untied only).
/// Each block's token mixer is chosen by <see cref="GptConfig.Mixers"/> (attention by default; <c>blocks.{i}.s4d.*</c>
/// for S4D layers, see <see cref="TokenMixers"/>).
/// With <see cref="GptConfig.Moe"/>, each block's feed-forward is a mixture of experts (<c>blocks.{i}.moe.router/experts.{e}...</c>).
/// Initialisation as GPT-2: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers); S4D parameters keep their own.
/// </summary>
public sealed partial class Gpt : Module, IKvCacheModel, ITiedHeadModel, ILastHiddenStateModel
{
    /// <summary>A model of the given shape; <paramref name="generator"/> seeds the initialisation and the dropout.</summary>
    public Gpt(GptConfig config, Generator? generator = null)
    {
        Config = config;
        RegisterModule("tok", new Embedding(config.VocabSize, config.DModel, generator));
        if (!config.Rotary) RegisterModule("pos", new Embedding(config.ContextLength, config.DModel, generator));
        RegisterModule("blocks", new ModuleList<TransformerBlock>(TokenMixers.Resolve(config).Select(kind =>
        {
            var (slot, mixer) = TokenMixers.Create(kind, config, generator);
            int hidden = config.MlpRatio * config.DModel;
            return config.Moe is { } moe
                ? new TransformerBlock(slot, mixer, config.DModel, TransformerBlock.MoeSlot, new MoeFeedForward(config.DModel, hidden, moe, config.GeluTanh, config.Dropout, generator), config.LayerNormEps, config.ParallelBlocks)
                : new TransformerBlock(slot, mixer, config.DModel, TransformerBlock.MlpSlot, new Mlp(config.DModel, hidden, new GELU(config.GeluTanh), config.Dropout, generator), config.LayerNormEps, config.ParallelBlocks);
        }).ToList()));
        RegisterModule("ln_f", new LayerNorm(config.DModel, config.LayerNormEps));
        RegisterModule("drop", new Dropout(config.Dropout, generator));
        if (!config.TiedHead) RegisterModule("head", new Linear(config.DModel, config.VocabSize, bias: false, generator));

        // GPT-2 initialisation (section 2.3 of the paper): N(0, 0.02), residual outputs scaled by 1/sqrt(2 L).
        // The S4D parameters keep their initialisation (S4D paper, section 4): their scale defines the dynamics.
        var ssm = NamedModules().Where(m => m.Module is S4D).SelectMany(m => m.Module.Parameters()).ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in NamedParameters())
        {
            if (ssm.Contains(p)) continue;
            if (name.EndsWith(".bias")) Init.Zeros(p);
            else if (name.Contains("ln")) continue;
            else if (name.EndsWith("attn.proj.weight") || name.EndsWith("mlp.proj.weight") || IsExpertProjection(name)) Init.Normal(p, 0, 0.02 / Math.Sqrt(2 * config.Layers), generator);
            else Init.Normal(p, 0, 0.02, generator);
        }
    }

    // Each expert's (and the shared expert's) output projection is a residual output like the dense mlp's.
    static bool IsExpertProjection(string name) => name.Contains($".{TransformerBlock.MoeSlot}.") && name.EndsWith(".proj.weight");

    // The typed accessors read the registry and look through adapters' wrappers to the original layers; the forward
    // pass calls the registered modules (Child), so a wrapper put in by ReplaceModule is never bypassed.

    /// <summary>The shape the model was built with.</summary>
    public GptConfig Config { get; }

    /// <summary>The token embedding (also the head when <see cref="GptConfig.TiedHead"/>).</summary>
    public Embedding Tok => Unwrapped<Embedding>("tok");

    /// <summary>The learned position embedding, or null with rotary embeddings.</summary>
    public Embedding? Pos => Config.Rotary ? null : Unwrapped<Embedding>("pos");

    /// <summary>The transformer blocks.</summary>
    public ModuleList<TransformerBlock> Blocks => Unwrapped<ModuleList<TransformerBlock>>("blocks");

    /// <summary>The final LayerNorm.</summary>
    public LayerNorm LnF => Unwrapped<LayerNorm>("ln_f");

    /// <summary>Dropout on the embeddings.</summary>
    public Dropout EmbeddingDropout => Unwrapped<Dropout>("drop");

    /// <summary>The untied output head, or null when the head is the token embedding.</summary>
    public Linear? Head => Config.TiedHead ? null : Unwrapped<Linear>("head");

    bool _tiedHeadShown;

    /// <inheritdoc/>
    public string? TiedHeadPath => Config.TiedHead ? "head" : null;

    /// <summary>
    /// Registers the tied head as module <c>head</c> (Hugging Face's <c>lm_head</c>): a <see cref="Linear"/> whose weight is
    /// the token embedding's tensor (<see cref="Linear.Sharing"/>), which the forward then calls, so an adapter can wrap
    /// it as PEFT wraps GPT-2's tied lm_head, in the model's training or evaluation mode. The function is unchanged; calling it again does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The head is not tied (it is a module already).</exception>
    public void ShowTiedHead()
    {
        if (!Config.TiedHead) throw new InvalidOperationException("Gpt.ShowTiedHead: the head is untied; it is module 'head' already");
        if (_tiedHeadShown) return;
        // The head takes the model's mode: a wrapper that behaves differently in training (Poly's router) must see evaluation.
        RegisterModule("head", Linear.Sharing(Tok.Weight)).Train(Training);
        _tiedHeadShown = true;
    }

    /// <summary>Token ids [B, T] to logits [B, T, V].</summary>
    public override Tensor Forward(Tensor ids) => Forward(ids, null);

    /// <summary>An empty cache for incremental decoding: one state per layer, as each layer's token mixer needs.</summary>
    public KvCache CreateCache() => new(Blocks.Items.Select(b => b.CreateState()));

    /// <summary>Token ids [B, T] to logits [B, T, V]. With a cache, ids hold only the new positions.</summary>
    public Tensor Forward(Tensor ids, KvCache? cache, Tensor? keyPaddingMask = null)
    {
        if (ids.Rank != 2) throw new ArgumentException($"Gpt: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        return ForwardEmbeddings(Child("tok").Forward(ids), cache, keyPaddingMask);
    }

    /// <summary>
    /// Token embeddings [B, T, C] (what <see cref="Tok"/> gives, or learned ones such as prompt tuning's virtual
    /// tokens) to logits [B, T, V]; positions continue after the cache's.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor embeddings, KvCache? cache, Tensor? keyPaddingMask = null)
    {
        var x = FinalHidden(embeddings, cache, keyPaddingMask);
        // The tied head multiplies by the embedding table itself, as GPT-2's lm_head shares wte's weight; a wrapper of
        // the embedding that changes its table (IEmbeddingTable: trainable tokens) changes the head's table too.
        return Config.TiedHead && !_tiedHeadShown ? x.MatMul(((Child("tok") as IEmbeddingTable)?.Table ?? Tok.Weight).T) : Child("head").Forward(x);
    }

    // The blocks and the final LayerNorm: the head's input [B, T, C].
    Tensor FinalHidden(Tensor embeddings, KvCache? cache, Tensor? keyPaddingMask)
    {
        if (embeddings.Rank != 3 || embeddings.Size(2) != Config.DModel)
            throw new ArgumentException($"Gpt: expects token embeddings [batch, time, {Config.DModel}], got {Shapes.Format(embeddings.Shape)}");
        int t = embeddings.Size(1), past = cache?.Length ?? 0;
        if (past + t > Config.ContextLength && !Config.Rotary)
            throw new ArgumentException($"Gpt: {past + t} positions exceed the context length {Config.ContextLength}");
        var x = embeddings;
        if (!Config.Rotary) x = x + Child("pos").Forward(Tensor.Arange(past, past + t, device: embeddings.Device));
        x = Child("drop").Forward(x);
        var blocks = Blocks;
        for (int i = 0; i < blocks.Count; i++) x = blocks[i].Forward(x, keyPaddingMask, cache?[i]);
        return Child("ln_f").Forward(x);
    }
}

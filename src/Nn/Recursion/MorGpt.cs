namespace Engine.Nn;

/// <summary>
/// A Mixture-of-Recursions decoder (Bae et al. 2025; spec structure-and-optimizers.md 1.1 and 1.2; reference
/// sudeshmu/mixture_of_recursions <c>model/mor_model/*</c>): GPT's token and learned position embeddings, a unique first
/// block, a shared stack of B blocks applied up to N_r times with a router deciding per token how many times
/// (MIDDLE-CYCLE sharing), a unique last block, a final LayerNorm and a head tied to the token embedding.
/// Each shared block is stored once, so the parameter count is that of 2 + B blocks plus the routers.
/// <para>Residual convention (reference, <c>expert_choice_router.py</c> step 5): a block's output already contains its
/// residual stream, and the router gate multiplies it, so a kept row becomes h + w·Bk(h) = (1 + w)h + wΔ; token choice's
/// finished rows become h_in + w·h_after_j (<c>token_choice_router.py</c>). The forward and incremental decoding
/// (<see cref="CreateCache"/>) implement the same attention rule per <see cref="MorKvMode"/>, so in evaluation mode
/// decoding token by token reproduces the full forward.</para>
/// Parameter names: <c>tok</c>, <c>pos</c>, <c>first</c>, <c>shared.{b}</c>, <c>last</c>, <c>ln_f</c>,
/// <c>routers.{r}.router.weight</c> (expert choice) or <c>router.router.weight</c> (token choice).
/// </summary>
public sealed partial class MorGpt : Module, IKvCacheModel
{
    /// <summary>A model of the given shape; <paramref name="generator"/> seeds the initialisation and the dropout.</summary>
    public MorGpt(MorConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        var g = config.Base;
        RegisterModule("tok", new Embedding(g.VocabSize, g.DModel, generator));
        RegisterModule("pos", new Embedding(g.ContextLength, g.DModel, generator));
        RegisterModule("drop", new Dropout(g.Dropout, generator));
        RegisterModule("first", Block(g, generator));
        RegisterModule("shared", new ModuleList<TransformerBlock>(Enumerable.Range(0, config.SharedLayers).Select(_ => Block(g, generator)).ToList()));
        RegisterModule("last", Block(g, generator));
        if (config.Routing == MorRouting.ExpertChoice)
            RegisterModule("routers", new ModuleList<ExpertChoiceRouter>(Enumerable.Range(0, config.Recursions).Select(_ => new ExpertChoiceRouter(g.DModel, generator)).ToList()));
        else
            RegisterModule("router", new TokenChoiceRouter(g.DModel, config.Recursions, generator));
        RegisterModule("ln_f", new LayerNorm(g.DModel, g.LayerNormEps));

        // GPT-2 initialisation as Gpt, with L the effective depth; routers N(0, initializer_range = 0.02) (util.py).
        foreach (var (name, p) in NamedParameters())
        {
            if (name.EndsWith(".bias")) Init.Zeros(p);
            else if (name.Contains("ln")) continue;
            else if (name.EndsWith("attn.proj.weight") || name.EndsWith("mlp.proj.weight")) Init.Normal(p, 0, 0.02 / Math.Sqrt(2 * g.Layers), generator);
            else Init.Normal(p, 0, 0.02, generator);
        }
    }

    static TransformerBlock Block(GptConfig g, Generator? generator)
    {
        var (slot, mixer) = TokenMixers.Create(TokenMixers.Attention, g, generator);
        return new TransformerBlock(slot, mixer, g.DModel, g.MlpRatio * g.DModel, g.LayerNormEps, g.GeluTanh, g.Dropout, generator);
    }

    /// <summary>The shape the model was built with.</summary>
    public MorConfig Config { get; }

    /// <summary>The token embedding (also the head).</summary>
    public Embedding Tok => Unwrapped<Embedding>("tok");

    /// <summary>The learned position embedding.</summary>
    public Embedding Pos => Unwrapped<Embedding>("pos");

    /// <summary>The unique first block.</summary>
    public TransformerBlock First => Unwrapped<TransformerBlock>("first");

    /// <summary>The shared stack Bk, applied up to N_r times.</summary>
    public ModuleList<TransformerBlock> Shared => Unwrapped<ModuleList<TransformerBlock>>("shared");

    /// <summary>The unique last block.</summary>
    public TransformerBlock Last => Unwrapped<TransformerBlock>("last");

    /// <summary>The final LayerNorm.</summary>
    public LayerNorm LnF => Unwrapped<LayerNorm>("ln_f");

    /// <summary>The per-step routers (expert choice), or null.</summary>
    public ModuleList<ExpertChoiceRouter>? ExpertRouters => Config.Routing == MorRouting.ExpertChoice ? Unwrapped<ModuleList<ExpertChoiceRouter>>("routers") : null;

    /// <summary>The router (token choice), or null.</summary>
    public TokenChoiceRouter? TokenRouter => Config.Routing == MorRouting.TokenChoice ? Unwrapped<TokenChoiceRouter>("router") : null;

    /// <summary>
    /// The selections of the last forward pass, one per recursion step (null for a step that ran no token), for
    /// inspection and tests: which positions of the input each step processed. With a cache, the positions are those of
    /// the call's new tokens. Shared by every thread that runs the model; read it on the thread that ran the forward.
    /// </summary>
    public IReadOnlyList<RecursionSelection?> LastSelections { get; private set; } = [];

    /// <summary>Token ids [B, T] to logits [B, T, V].</summary>
    public override Tensor Forward(Tensor ids) => Forward(ids, null);

    /// <summary>An empty cache for incremental decoding: the first block, the recursive section (<see cref="RecursionCache"/>), the last block.</summary>
    public KvCache CreateCache() => new([First.CreateState(), new RecursionCache(Config.Recursions, Config.SharedLayers), Last.CreateState()]);

    /// <summary>Token ids [B, T] to logits [B, T, V]. With a cache, ids hold only the new positions.</summary>
    /// <exception cref="NotSupportedException">A key padding mask (routed attention does not take one).</exception>
    public Tensor Forward(Tensor ids, KvCache? cache, Tensor? keyPaddingMask = null)
    {
        if (ids.Rank != 2) throw new ArgumentException($"MorGpt: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        return ForwardEmbeddings(Child("tok").Forward(ids), cache, keyPaddingMask);
    }

    /// <summary>Token embeddings [B, T, C] to logits [B, T, V]; positions continue after the cache's.</summary>
    public Tensor ForwardEmbeddings(Tensor embeddings, KvCache? cache, Tensor? keyPaddingMask = null)
    {
        var g = Config.Base;
        if (keyPaddingMask is not null) throw new NotSupportedException("MorGpt: key padding masks are not supported");
        if (embeddings.Rank != 3 || embeddings.Size(2) != g.DModel)
            throw new ArgumentException($"MorGpt: expects token embeddings [batch, time, {g.DModel}], got {Shapes.Format(embeddings.Shape)}");
        RecursionCache? recursion = null;
        if (cache is not null && (cache.Layers != 3 || (recursion = cache[1] as RecursionCache) is null))
            throw new ArgumentException("MorGpt: the cache must come from MorGpt.CreateCache");
        int t = embeddings.Size(1), past = cache?.Length ?? 0;
        if (past + t > g.ContextLength)
            throw new ArgumentException($"MorGpt: {past + t} positions exceed the context length {g.ContextLength}");
        var x = embeddings + Child("pos").Forward(Tensor.Arange(past, past + t, device: embeddings.Device));
        x = Child("drop").Forward(x);
        x = First.Forward(x, null, cache?[0]);
        x = Config.Routing == MorRouting.ExpertChoice ? ExpertChoice(x, recursion) : TokenChoice(x, recursion);
        recursion?.Advance(t);
        x = Last.Forward(x, null, cache?[2]);
        x = Child("ln_f").Forward(x);
        return x.MatMul(Tok.Weight.T);
    }
}

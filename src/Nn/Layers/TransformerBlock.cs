
namespace Engine.Nn;

/// <summary>
/// Pre-norm decoder block (GPT-2): x + mixer(ln1(x)), then x + mlp(ln2(x)) (or a mixture of experts, <c>moe</c>). The token mixer is multi-head attention
/// (registered as <c>attn</c>, GPT-2's names) or another <see cref="ITokenMixer"/> such as <see cref="S4DLayer"/>
/// (registered under its own name, e.g. <c>s4d</c>), chosen per layer by <see cref="TokenMixers"/>.
/// </summary>
public sealed class TransformerBlock : Module
{
    /// <summary>An attention block (GPT-2).</summary>
    public TransformerBlock(AttentionOptions attention, int mlpHidden, double layerNormEps = 1e-5, bool geluTanh = true, Generator? generator = null)
        : this(TokenMixers.AttentionSlot, new MultiHeadAttention(attention, generator), attention.DModel, mlpHidden, layerNormEps, geluTanh, attention.Dropout, generator) { }

    /// <summary>
    /// A block whose token mixer is <paramref name="mixer"/>, registered as <paramref name="mixerName"/>. A mixer that is
    /// not an <see cref="ITokenMixer"/> is called through <see cref="Module.Forward(Tensor)"/> and must be causal.
    /// </summary>
    public TransformerBlock(string mixerName, Module mixer, int dModel, int mlpHidden, double layerNormEps = 1e-5, bool geluTanh = true, double dropout = 0, Generator? generator = null)
        : this(mixerName, mixer, dModel, MlpSlot, new Mlp(dModel, mlpHidden, new GELU(geluTanh), dropout, generator), layerNormEps) { }

    /// <summary>
    /// A block whose feed-forward sublayer is <paramref name="feedForward"/>, registered as <paramref name="feedForwardName"/>:
    /// a dense <see cref="Mlp"/> as <c>mlp</c> (GPT-2's names, what older checkpoints hold) or a
    /// <see cref="MoeFeedForward"/> as <c>moe</c> (<see cref="MoeSlot"/>).
    /// </summary>
    /// <param name="mixerName">The token mixer's sub-module name (<c>attn</c>, <c>s4d</c>, ...).</param>
    /// <param name="mixer">The token mixer.</param>
    /// <param name="dModel">Width (the LayerNorms' size).</param>
    /// <param name="feedForwardName">The feed-forward sublayer's sub-module name.</param>
    /// <param name="feedForward">The feed-forward sublayer.</param>
    /// <param name="layerNormEps">LayerNorm epsilon.</param>
    /// <param name="parallel">
    /// A parallel block (GPT-J; BAM, spec structure-and-optimizers.md 2.2): x + mixer(ln1(x)) + feed-forward(ln1(x)),
    /// one LayerNorm and no <c>ln2</c>, so the two sublayers can run side by side.
    /// </param>
    public TransformerBlock(string mixerName, Module mixer, int dModel, string feedForwardName, Module feedForward, double layerNormEps = 1e-5, bool parallel = false)
    {
        RegisterModule("ln1", new LayerNorm(dModel, layerNormEps));
        MixerName = mixerName;
        RegisterModule(mixerName, mixer);
        if (!parallel) RegisterModule("ln2", new LayerNorm(dModel, layerNormEps));
        FeedForwardName = feedForwardName;
        RegisterModule(feedForwardName, feedForward);
        Parallel = parallel;
    }

    /// <summary>True for a parallel block: both sublayers read ln1 of the same input and add to it.</summary>
    public bool Parallel { get; }

    /// <summary>The name of a dense feed-forward sublayer (<c>mlp</c>).</summary>
    public const string MlpSlot = "mlp";

    /// <summary>The name of a mixture-of-experts feed-forward sublayer (<c>moe</c>).</summary>
    public const string MoeSlot = "moe";

    /// <summary>The name the feed-forward sublayer is registered under (<see cref="MlpSlot"/> or <see cref="MoeSlot"/>).</summary>
    public string FeedForwardName { get; }

    /// <summary>The feed-forward sublayer as registered (an adapter's wrapper when one replaced it).</summary>
    public Module FeedForward => Child(FeedForwardName);

    public LayerNorm Ln1 => Unwrapped<LayerNorm>("ln1");

    /// <summary>The token mixer as registered (an adapter's wrapper when one replaced it).</summary>
    public Module Mixer => Child(MixerName);

    /// <summary>The name the mixer is registered under (<c>attn</c>, <c>s4d</c>, ...).</summary>
    public string MixerName { get; }

    /// <summary>The attention mixer; throws for blocks with another mixer.</summary>
    public MultiHeadAttention Attn => Unwrap(Mixer) as MultiHeadAttention
        ?? throw new InvalidOperationException($"TransformerBlock: the token mixer is {Mixer.GetType().Name} ('{MixerName}'), not attention");

    /// <summary>The feed-forward's LayerNorm; a parallel block has none (throws).</summary>
    public LayerNorm Ln2 => Parallel ? throw new InvalidOperationException("TransformerBlock: a parallel block has one LayerNorm (ln1), no ln2") : Unwrapped<LayerNorm>("ln2");

    /// <summary>The dense feed-forward sublayer; throws for a mixture-of-experts block.</summary>
    public Mlp Mlp => FeedForwardName == MlpSlot ? Unwrapped<Mlp>(MlpSlot)
        : throw new InvalidOperationException($"TransformerBlock: the feed-forward sublayer is '{FeedForwardName}' ({FeedForward.GetType().Name}), not a dense mlp");

    /// <summary>The mixture-of-experts feed-forward sublayer, or null for a dense block.</summary>
    public MoeFeedForward? Moe => FeedForwardName == MoeSlot ? Unwrapped<MoeFeedForward>(MoeSlot) : null;

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <summary>x [B, T, C] to [B, T, C]; with a state (see <see cref="CreateState"/>), x holds only the new positions.</summary>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        // Each sublayer sees its residual stream as SublayerInput.Current (VL-PET's gates read it).
        var h = x;
        if (Parallel)
        {
            var normed = Child("ln1").Forward(h);
            return h + SublayerInput.Run(h, () => MixerForward(normed, keyPaddingMask, state)) + SublayerInput.Run(h, () => Child(FeedForwardName).Forward(normed));
        }
        x = x + SublayerInput.Run(h, () => MixerForward(Child("ln1").Forward(h), keyPaddingMask, state));
        var a = x;
        return x + SublayerInput.Run(a, () => Child(FeedForwardName).Forward(Child("ln2").Forward(a)));
    }

    /// <summary>An empty state for this block's mixer.</summary>
    public IMixerState CreateState() => Mixer is ITokenMixer m ? m.CreateState() : new ReplayState();

    static Module Unwrap(Module m)
    {
        while (m is not MultiHeadAttention && m is IModuleWrapper w) m = w.Wrapped;
        return m;
    }

    Tensor MixerForward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        var module = Mixer;
        if (module is ITokenMixer mixer) return mixer.Forward(x, keyPaddingMask, state);
        if (keyPaddingMask is not null)
            throw new NotSupportedException($"TransformerBlock: the token mixer {Mixer.GetType().Name} ('{MixerName}') does not take a key padding mask");
        return state switch
        {
            null => module.Forward(x),
            ReplayState replay => replay.Run(module, x),
            _ => throw new ArgumentException($"TransformerBlock: the token mixer {Mixer.GetType().Name} expects a ReplayState, got {state.GetType().Name}"),
        };
    }
}

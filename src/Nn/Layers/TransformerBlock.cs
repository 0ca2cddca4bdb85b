
namespace Engine.Nn;

/// <summary>
/// Pre-norm decoder block (GPT-2): x + mixer(ln1(x)), then x + mlp(ln2(x)). The token mixer is multi-head attention
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
    {
        RegisterModule("ln1", new LayerNorm(dModel, layerNormEps));
        MixerName = mixerName;
        RegisterModule(mixerName, mixer);
        RegisterModule("ln2", new LayerNorm(dModel, layerNormEps));
        RegisterModule("mlp", new Mlp(dModel, mlpHidden, new GELU(geluTanh), dropout, generator));
    }

    public LayerNorm Ln1 => Unwrapped<LayerNorm>("ln1");

    /// <summary>The token mixer as registered (an adapter's wrapper when one replaced it).</summary>
    public Module Mixer => Child(MixerName);

    /// <summary>The name the mixer is registered under (<c>attn</c>, <c>s4d</c>, ...).</summary>
    public string MixerName { get; }

    /// <summary>The attention mixer; throws for blocks with another mixer.</summary>
    public MultiHeadAttention Attn => Unwrap(Mixer) as MultiHeadAttention
        ?? throw new InvalidOperationException($"TransformerBlock: the token mixer is {Mixer.GetType().Name} ('{MixerName}'), not attention");

    public LayerNorm Ln2 => Unwrapped<LayerNorm>("ln2");
    public Mlp Mlp => Unwrapped<Mlp>("mlp");

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <summary>x [B, T, C] to [B, T, C]; with a state (see <see cref="CreateState"/>), x holds only the new positions.</summary>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        // Each sublayer sees its residual stream as SublayerInput.Current (VL-PET's gates read it).
        var h = x;
        x = x + SublayerInput.Run(h, () => MixerForward(Child("ln1").Forward(h), keyPaddingMask, state));
        var a = x;
        return x + SublayerInput.Run(a, () => Child("mlp").Forward(Child("ln2").Forward(a)));
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

namespace Engine.Nn;

/// <summary>
/// FoldGPT's block gate on one residual branch (structure-and-optimizers.md 1.4): the wrapped sublayer's output times a
/// learnable scalar g (parameter <c>gate</c>, shape [1]), so the block computes h ← h + g·F(h). FoldGPT gives each block
/// one gate; <see cref="FoldGpt.AddGates"/> wraps the token mixer and the MLP of a block with the same gate tensor.
/// Wraps a token mixer (passing the key padding mask and the decoding state on) or any single-input module.
/// g = 1 multiplies by exactly one and g = 0 gives exactly zero, so the gated model equals the base model at g = 1 and
/// ignores a block at g = 0.
/// </summary>
public sealed class GatedSublayer : Module, ITokenMixer, IModuleWrapper
{
    /// <summary>Gates <paramref name="inner"/> with <paramref name="gate"/> [1] (the tensor itself, so two sublayers can share it).</summary>
    /// <exception cref="ArgumentException">The gate is not one value.</exception>
    public GatedSublayer(Module inner, Tensor gate)
    {
        if (gate.Numel != 1 || gate.Rank != 1) throw new ArgumentException($"GatedSublayer: the gate must be [1], got {Shapes.Format(gate.Shape)}");
        RegisterModule("inner", inner);
        RegisterParameter("gate", gate);
    }

    /// <summary>The gated sublayer.</summary>
    public Module Wrapped => Child("inner");

    /// <summary>g [1].</summary>
    public Tensor Gate => GetParameter("gate");

    /// <summary>g·F(x) for a single-input sublayer (the MLP).</summary>
    public override Tensor Forward(Tensor input) => Gate * Wrapped.Forward(input);

    /// <inheritdoc/>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state) => Wrapped switch
    {
        ITokenMixer mixer => Gate * mixer.Forward(x, keyPaddingMask, state),
        _ when keyPaddingMask is null && state is null => Forward(x),
        _ when keyPaddingMask is null && state is ReplayState replay => Gate * replay.Run(Wrapped, x),
        _ => throw new NotSupportedException($"GatedSublayer: the wrapped {Wrapped.GetType().Name} is not a token mixer; it takes no mask or state"),
    };

    /// <inheritdoc/>
    public IMixerState CreateState() => Wrapped is ITokenMixer mixer ? mixer.CreateState() : new ReplayState();
}

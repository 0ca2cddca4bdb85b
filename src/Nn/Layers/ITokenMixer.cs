namespace Engine.Nn;

/// <summary>
/// A layer that mixes information across positions, [B, T, C] to [B, T, C]: the part of a decoder block that a model
/// may choose per layer (attention, <see cref="S4DLayer"/>, ...). Implemented by <see cref="Module"/>s.
/// A model keeps one <see cref="IMixerState"/> per layer for incremental decoding, made by <see cref="CreateState"/>.
/// </summary>
public interface ITokenMixer
{
    /// <summary>
    /// x [B, T, C] to [B, T, C]. <paramref name="keyPaddingMask"/> [B, T_total] is true at padding positions.
    /// With a <paramref name="state"/> (from <see cref="CreateState"/>), x holds only the new positions and the state is
    /// advanced past them.
    /// </summary>
    Tensor Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state);

    /// <summary>An empty state for incremental decoding.</summary>
    IMixerState CreateState();
}

namespace Engine.Nn;

/// <summary>
/// What one token mixer keeps between calls during incremental decoding: the keys and values of attention
/// (<see cref="LayerKvCache"/>), the recurrent state of a state-space layer (<see cref="S4DState"/>).
/// </summary>
public interface IMixerState
{
    /// <summary>Number of positions consumed so far.</summary>
    int Length { get; }
}

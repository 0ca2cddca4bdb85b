namespace Engine.Nn;

/// <summary>
/// Incremental decoding for a causal token mixer that has no step mode of its own: the state keeps every input seen
/// so far and each call recomputes the mixer over all of them, returning the new positions. Correct for any causal
/// mixer, at quadratic cost; a mixer with a recurrence should implement <see cref="ITokenMixer"/> instead.
/// </summary>
public sealed class ReplayState : IMixerState
{
    /// <summary>The inputs seen so far, [B, T, C]; null before the first call.</summary>
    public Tensor? Inputs { get; private set; }

    /// <inheritdoc />
    public int Length => Inputs?.Size(1) ?? 0;

    /// <summary>Appends <paramref name="x"/> [B, t, C], runs <paramref name="mixer"/> over all inputs and returns its last t positions.</summary>
    public Tensor Run(Module mixer, Tensor x)
    {
        Inputs = Inputs is null ? x : Tensor.Concat([Inputs, x], 1);
        int t = x.Size(1);
        return mixer.Forward(Inputs).Narrow(1, Length - t, t);
    }
}

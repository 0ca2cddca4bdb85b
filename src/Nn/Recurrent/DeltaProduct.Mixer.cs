namespace Engine.Nn;

// DeltaProduct as a GPT token mixer: the recurrent state serves incremental decoding.
public sealed partial class DeltaProduct
{
    Tensor ITokenMixer.Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        if (keyPaddingMask is not null)
            throw new NotSupportedException("DeltaProduct: key padding masks are not supported by a recurrent mixer; pad sequences on the left with a token the model ignores, or leave them unpadded");
        if (state is null) return Forward(x);
        var s = state as DeltaProductMixerState
            ?? throw new ArgumentException($"DeltaProduct: expects a DeltaProductMixerState, got {state.GetType().Name}");
        s.Inner ??= InitialState(x.Size(0));
        return Forward(x, s.Inner);
    }

    IMixerState ITokenMixer.CreateState() => new DeltaProductMixerState();
}

/// <summary>A <see cref="DeltaProduct"/> mixer's decoding state; the inner state is created at the first call, when the batch size is known.</summary>
public sealed class DeltaProductMixerState : IMixerState
{
    /// <summary>The layer's recurrent state (null before the first call).</summary>
    public DeltaProductState? Inner { get; set; }

    public int Length => Inner?.Position ?? 0;
}

namespace Engine.Nn;

/// <summary>
/// What a <see cref="DeltaProduct"/> layer carries between calls when it runs over a sequence piece by piece
/// (prompt, then one token at a time): the delta-rule state per batch entry and head, and the last K - 1 inputs of
/// each short convolution. Created by <see cref="DeltaProduct.InitialState"/>; each call replaces the tensors.
/// </summary>
public sealed class DeltaProductState
{
    /// <summary>A state from explicit tensors (null convolution histories mean the layer has no short convolutions).</summary>
    public DeltaProductState(Tensor memory, Tensor? convQ, Tensor? convK, Tensor? convV)
    {
        Memory = memory;
        ConvQ = convQ;
        ConvK = convK;
        ConvV = convV;
    }

    /// <summary>S [B, H, d_k, d_v]: the associative memory of the delta rule.</summary>
    public Tensor Memory { get; set; }

    /// <summary>[B, K - 1, H d_k]: the last query projections before the convolution, or null without convolutions.</summary>
    public Tensor? ConvQ { get; set; }

    /// <summary>[B, K - 1, n_h H d_k]: the last key projections before the convolution.</summary>
    public Tensor? ConvK { get; set; }

    /// <summary>[B, K - 1, n_h H d_v]: the last value projections before the convolution.</summary>
    public Tensor? ConvV { get; set; }

    /// <summary>Tokens seen so far.</summary>
    public int Position { get; set; }
}

namespace Engine.Nn;

/// <summary>
/// The recurrent state of an <see cref="S4D"/> layer for step mode: the complex x_t per (batch, channel, conjugate pair),
/// [B, H, N/2] real and imaginary parts, zero before the first step.
/// </summary>
public sealed class S4DState : IMixerState
{
    /// <summary>Real part of x_t, [B, H, N/2]; null before the first step.</summary>
    public Tensor? Re { get; private set; }

    /// <summary>Imaginary part of x_t, [B, H, N/2]; null before the first step.</summary>
    public Tensor? Im { get; private set; }

    /// <inheritdoc />
    public int Length { get; private set; }

    internal ComplexTensor? Value => Re is null ? null : new ComplexTensor(Re, Im!);

    internal void Advance(ComplexTensor x)
    {
        Re = x.Re;
        Im = x.Im;
        Length++;
    }
}

namespace Engine.Peft.LowRank;

/// <summary>DoRA's trainable magnitude m [out] (Liu et al. 2024, equation 2), as PEFT's <c>lora_magnitude_vector</c>.</summary>
public sealed class DoraMagnitude : Module
{
    /// <summary>A magnitude initialised to <paramref name="initial"/> (the row norms of the base weight).</summary>
    public DoraMagnitude(Tensor initial) => RegisterParameter("weight", initial.Detach().Clone());

    /// <summary>m [out].</summary>
    public Tensor Weight => GetParameter("weight");
}

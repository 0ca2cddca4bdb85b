namespace Engine.Peft.Retrieval;

/// <summary>
/// Sizes of the AutoLoRA weight encoder E_w (spec seeds-remaining.md §1a; defaults p = 8, d_e = 128, 2 layers, 4 heads,
/// d_s = 384 for MiniLM).
/// </summary>
/// <param name="MaxFeatures">Largest in/out width of an adapted module (the fixed projections P_in, P_out have this many rows).</param>
/// <param name="Layers">Number of layer indices the layer embedding covers.</param>
/// <param name="ModuleTypes">Number of module types the type embedding covers (6: q, k, v, o, fc1, fc2).</param>
/// <param name="ProjectionDim">p, the side of the invariant Φ = (P_outᵀ B)(A P_in).</param>
/// <param name="EncoderDim">d_e, the token width.</param>
/// <param name="OutputDim">d_s, the text encoder's width.</param>
/// <param name="EncoderLayers">Bidirectional transformer layers over the module tokens.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="Seed">Seed of the fixed projections and of the initial weights.</param>
public sealed record LoraWeightEncoderOptions(int MaxFeatures, int Layers, int ModuleTypes = 6, int ProjectionDim = 8, int EncoderDim = 128,
    int OutputDim = 384, int EncoderLayers = 2, int Heads = 4, ulong Seed = 0)
{
    /// <summary>Throws an ArgumentException naming the first invalid size.</summary>
    public void Validate()
    {
        void Positive(int v, string name)
        {
            if (v < 1) throw new ArgumentException($"LoraWeightEncoder: {name} must be positive, got {v}");
        }
        Positive(MaxFeatures, nameof(MaxFeatures)); Positive(Layers, nameof(Layers)); Positive(ModuleTypes, nameof(ModuleTypes));
        Positive(ProjectionDim, nameof(ProjectionDim)); Positive(EncoderDim, nameof(EncoderDim)); Positive(OutputDim, nameof(OutputDim));
        Positive(EncoderLayers, nameof(EncoderLayers)); Positive(Heads, nameof(Heads));
        if (EncoderDim % Heads != 0) throw new ArgumentException($"LoraWeightEncoder: EncoderDim {EncoderDim} is not divisible by Heads {Heads}");
    }
}

namespace Engine.Peft.Inserted;

/// <summary>
/// VL-PET (Hu et al. 2023, "VL-PET: Vision-and-Language Parameter-Efficient Tuning via Granularity Control",
/// arXiv 2308.09804, ICCV 2023; HenryHZY/VL-PET <c>src/my_transformers/modeling_bart.py</c>, <c>BartEncoderLayer</c>;
/// spec adapters-other.md §11): on each sublayer output x2 (self-attention and feed-forward, before dropout and the
/// residual add) a multi-head adapter y1 = x2 + W_up GELU(concat_h W_down^h x2), then a granularity-controlled gate
/// conditioned on the sublayer's input x1 (<see cref="GateType"/>: "large", "middleX", "middleY", "small"). There is no
/// vision model or decoder cross-attention in the engine: the adapters go on the text models' sublayer outputs, and the
/// decoder's value parallel adapter is left out (the engine's reading). Init as BART's <c>_init_weights</c>
/// (N(0, 0.02²), biases zero; middleY's g ~ N(0, 0.02²)), so the adapted model is NOT the base at init (spec pitfall 6;
/// the large gate halves the sublayer output at init). Not mergeable. Engine-only <c>peft_type</c> "VL_PET".
/// <code>var peft = Peft.Apply(gpt, new VlPetConfig { GateType = "large", TargetModules = ["attn.proj", "mlp.proj"] });</code>
/// </summary>
[PeftMethod("VL_PET", Layer = typeof(VlPetLayer), Mergeable = false, StartsAtBase = false, InPeft = false, ZooLearningRate = 3e-2,
    Variants = ["vl_pet_middlex: gate_type=middleX", "vl_pet_middley: gate_type=middleY", "vl_pet_small: gate_type=small"])]
public sealed record VlPetConfig : PeftConfig
{
    /// <summary>The gate types, the paper's granularities (table 1): per token and channel, per token, per channel, per example.</summary>
    public static readonly string[] GateTypes = ["large", "middleX", "middleY", "small"];

    /// <summary>The reference's <c>adapter_down_dim</c>: the adapter's width a (all heads together).</summary>
    public int AdapterDownDim { get; init; } = 96;

    /// <summary>The reference's <c>encoder_adapter_multihead_num_head</c>: H down-projection heads of a/H rows each.</summary>
    public int EncoderAdapterMultiheadNumHead { get; init; } = 4;

    /// <summary>
    /// The gate: "large" G = σ(W_gu GELU(W_gd x1 + b) + b) per token and channel (<c>use_encoder_adapter_gating_large_x_lowrank</c>);
    /// "middleX" G = σ(w·(x1 + y1) + b) per token (<c>..._middle_xy_add</c>); "middleY" y1 + y1 ⊙ g per channel
    /// (<c>..._middle_ia3_add</c>); "small" the token mean of σ(w·[x1; y1] + b) per example (<c>..._small_xy_cat</c>).
    /// </summary>
    public string GateType { get; init; } = "large";

    /// <summary>The reference's <c>adapter_gating_down_dim</c>: the large gate's bottleneck g.</summary>
    public int AdapterGatingDownDim { get; init; } = 96;

    /// <summary>Standard deviation of every weight (BART's <c>init_std</c>, 0.02); biases start at zero.</summary>
    public double InitStd { get; init; } = 0.02;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (AdapterDownDim < 1) throw new ArgumentException($"VlPetConfig: adapter_down_dim must be positive, got {AdapterDownDim}");
        if (EncoderAdapterMultiheadNumHead < 1 || AdapterDownDim % EncoderAdapterMultiheadNumHead != 0)
            throw new ArgumentException($"VlPetConfig: encoder_adapter_multihead_num_head ({EncoderAdapterMultiheadNumHead}) must be positive and divide adapter_down_dim ({AdapterDownDim})");
        if (!GateTypes.Contains(GateType)) throw new ArgumentException($"VlPetConfig: gate_type '{GateType}' is not one of {string.Join(", ", GateTypes)}");
        if (AdapterGatingDownDim < 1) throw new ArgumentException($"VlPetConfig: adapter_gating_down_dim must be positive, got {AdapterGatingDownDim}");
        if (!(InitStd >= 0) || !double.IsFinite(InitStd)) throw new ArgumentException($"VlPetConfig: init_std must be finite and non-negative, got {InitStd}");
    }

    /// <summary>
    /// The zoo's VL-PET (large gate): a = g = 2·size rounded up to a multiple of the 4 heads, after both sublayer outputs
    /// (about 8·d·a per block against LoRA's 16·d·r on every projection).
    /// </summary>
    public static VlPetConfig Preset(AdapterPreset p)
    {
        int a = 4 * ((2 * p.Size + 3) / 4);
        return new() { AdapterDownDim = a, AdapterGatingDownDim = a, TargetModules = p.SublayerOutputs, Seed = p.Seed };
    }
}

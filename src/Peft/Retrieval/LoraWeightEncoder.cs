namespace Engine.Peft.Retrieval;

/// <summary>
/// AutoLoRA's weight encoder E_w (spec seeds-remaining.md §1a): LoRA weights to a unit vector in the text encoder's
/// space. Each adapted module m becomes the gauge-invariant Φ^m = (P_outᵀ B)(A P_in) · α/r ∈ R^{p×p}, so (A, B) and
/// (R A, B R⁻¹) give the same input for any invertible R, and ΔW = B A is never formed (cost O((out + in) r p)).
/// Token_m = Linear(p² → d_e)(vec Φ^m) + emb(layer) + emb(module type); a bidirectional transformer encoder over the
/// tokens, mean pooling, Linear(d_e → d_s) and L2 normalisation. P_in, P_out are seeded Gaussian/√p buffers (saved with
/// the module, never trained).
/// </summary>
public sealed class LoraWeightEncoder : Module
{
    /// <summary>Builds the encoder with seeded weights and projections.</summary>
    public LoraWeightEncoder(LoraWeightEncoderOptions options)
    {
        options.Validate();
        Options = options;
        var g = new Generator(options.Seed);
        int p = options.ProjectionDim, d = options.EncoderDim;
        // Fixed random projections (Gaussian / √p): a module of width w < MaxFeatures uses the first w rows.
        RegisterBuffer("p_out", Tensor.Randn([options.MaxFeatures, p], 0, 1 / Math.Sqrt(p), generator: g));
        RegisterBuffer("p_in", Tensor.Randn([options.MaxFeatures, p], 0, 1 / Math.Sqrt(p), generator: g));
        RegisterModule("token", new Linear(p * p, d, bias: true, g));
        RegisterModule("layer_emb", new Embedding(options.Layers, d, g));
        RegisterModule("type_emb", new Embedding(options.ModuleTypes, d, g));
        var attention = new AttentionOptions(d, options.Heads, Causal: false);
        for (int i = 0; i < options.EncoderLayers; i++) RegisterModule($"block_{i}", new TransformerBlock(attention, 4 * d, generator: g));
        RegisterModule("ln_f", new LayerNorm(d));
        RegisterModule("head", new Linear(d, options.OutputDim, bias: true, g));
    }

    /// <summary>The sizes this encoder was built with.</summary>
    public LoraWeightEncoderOptions Options { get; }

    /// <summary>P_out [MaxFeatures, p] (fixed).</summary>
    public Tensor ProjectionOut => Buffer("p_out");

    /// <summary>P_in [MaxFeatures, p] (fixed).</summary>
    public Tensor ProjectionIn => Buffer("p_in");

    /// <summary>Φ = (P_outᵀ B)(A P_in) · scaling [p, p] of one module: invariant to A → R A, B → B R⁻¹.</summary>
    public Tensor Invariant(LoraModuleWeights module)
    {
        var (a, b) = (module.A, module.B);
        if (a.Rank != 2 || b.Rank != 2 || a.Size(0) != b.Size(1))
            throw new ArgumentException($"LoraWeightEncoder: expects A [r, in] and B [out, r], got A {Shapes.Format(a.Shape)} and B {Shapes.Format(b.Shape)}");
        int inF = a.Size(1), outF = b.Size(0);
        if (inF > Options.MaxFeatures || outF > Options.MaxFeatures)
            throw new ArgumentException($"LoraWeightEncoder: module width {Math.Max(inF, outF)} exceeds MaxFeatures {Options.MaxFeatures}");
        var pOut = ProjectionOut.Narrow(0, 0, outF).To(b.DType);
        var pIn = ProjectionIn.Narrow(0, 0, inF).To(a.DType);
        return (pOut.T % b) % (a % pIn) * module.Scaling;
    }

    /// <summary>The unit embedding [d_s] of one LoRA given as its adapted modules.</summary>
    public Tensor Encode(IReadOnlyList<LoraModuleWeights> lora)
    {
        if (lora.Count == 0) throw new ArgumentException("LoraWeightEncoder: a LoRA needs at least one adapted module");
        var tokens = new Tensor[lora.Count];
        var token = Child("token");
        for (int m = 0; m < lora.Count; m++)
        {
            var module = lora[m];
            if (module.Layer < 0 || module.Layer >= Options.Layers)
                throw new ArgumentException($"LoraWeightEncoder: layer index {module.Layer} is outside [0, {Options.Layers})");
            if (module.ModuleType < 0 || module.ModuleType >= Options.ModuleTypes)
                throw new ArgumentException($"LoraWeightEncoder: module type {module.ModuleType} is outside [0, {Options.ModuleTypes})");
            var phi = Invariant(module).Reshape(1, -1).To(((Linear)token).Weight.DType);
            tokens[m] = token.Forward(phi);
        }
        var layers = Tensor.FromArray(lora.Select(l => (long)l.Layer).ToArray());
        var types = Tensor.FromArray(lora.Select(l => (long)l.ModuleType).ToArray());
        var x = Tensor.Concat(tokens, 0) + Child("layer_emb").Forward(layers) + Child("type_emb").Forward(types);
        x = x.Unsqueeze(0);
        for (int i = 0; i < Options.EncoderLayers; i++) x = Child($"block_{i}").Forward(x);
        var pooled = Child("ln_f").Forward(x).Mean(1).Reshape(-1);
        var e = Child("head").Forward(pooled.Unsqueeze(0)).Reshape(-1);
        return e / (e * e).Sum().Sqrt();
    }

    Tensor Buffer(string name) => NamedBuffers().First(b => b.Name == name).Buffer;

    /// <summary>Unit embeddings [N, d_s] of <paramref name="library"/>, one row per LoRA.</summary>
    public Tensor EncodeAll(IReadOnlyList<IReadOnlyList<LoraModuleWeights>> library) => Tensor.Stack(library.Select(Encode).ToArray(), 0);
}

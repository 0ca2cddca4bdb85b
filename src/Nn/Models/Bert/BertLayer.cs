namespace Engine.Nn;

/// <summary>
/// One post-norm BERT encoder layer (Devlin et al. 2019; Vaswani et al. 2017, section 3.1):
/// h = LayerNorm(x + Attention(x)), y = LayerNorm(h + W2 GELU(W1 h)), with Hugging Face's module names
/// (<c>attention.self.query</c>, <c>attention.output.dense</c>, <c>intermediate.dense</c>, <c>output.dense</c>, ...).
/// </summary>
public sealed class BertLayer : Module
{
    public BertLayer(BertConfig config, Generator? generator = null)
    {
        RegisterModule("attention", new BertAttention(config, generator));
        RegisterModule("intermediate", new BertIntermediate(config, generator));
        RegisterModule("output", new BertResidualOutput(config.Intermediate, config, generator));
    }

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <summary>x [B, T, H]; the mask and prefix as in <see cref="BertSelfAttention.Forward(Tensor, Tensor?, ValueTuple{Tensor, Tensor}?)"/>.</summary>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, (Tensor Keys, Tensor Values)? prefix)
    {
        var h = Unwrapped<BertAttention>("attention").Forward(x, keyPaddingMask, prefix);
        return Unwrapped<BertResidualOutput>("output").Forward(Child("intermediate").Forward(h), h);
    }
}

/// <summary>BERT's attention sublayer: <c>self</c> (the heads) and <c>output</c> (projection, residual, LayerNorm).</summary>
public sealed class BertAttention : Module
{
    public BertAttention(BertConfig config, Generator? generator = null)
    {
        RegisterModule("self", new BertSelfAttention(config, generator));
        RegisterModule("output", new BertResidualOutput(config.Hidden, config, generator));
    }

    /// <summary>The heads (the original module: adapters wrap its Linears, never the module itself).</summary>
    public BertSelfAttention Self => Unwrapped<BertSelfAttention>("self");

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, (Tensor Keys, Tensor Values)? prefix) =>
        Unwrapped<BertResidualOutput>("output").Forward(Self.Forward(x, keyPaddingMask, prefix), x);
}

/// <summary>BERT's first feed-forward half: <c>dense</c> [H -> intermediate] and GELU (erf form).</summary>
public sealed class BertIntermediate : Module
{
    public BertIntermediate(BertConfig config, Generator? generator = null) =>
        RegisterModule("dense", new Linear(config.Hidden, config.Intermediate, bias: true, generator));

    // A plain Linear (no adapter wraps it) fuses the activation into its product for inference.
    public override Tensor Forward(Tensor x) => Child("dense") is Linear dense ? dense.ForwardGelu(x) : Child("dense").Forward(x).Gelu();
}

/// <summary>
/// The end of each BERT sublayer (Hugging Face's <c>BertSelfOutput</c> and <c>BertOutput</c> have the same form):
/// LayerNorm(residual + dropout(dense(x))).
/// </summary>
public sealed class BertResidualOutput : Module
{
    public BertResidualOutput(int inFeatures, BertConfig config, Generator? generator = null)
    {
        RegisterModule("dense", new Linear(inFeatures, config.Hidden, bias: true, generator));
        RegisterModule("LayerNorm", new LayerNorm(config.Hidden, config.LayerNormEps));
        RegisterModule("dropout", new Dropout(config.Dropout, generator));
    }

    public Tensor Forward(Tensor x, Tensor residual) =>
        Child("LayerNorm").Forward(Child("dropout").Forward(SublayerInput.Run(residual, () => Child("dense").Forward(x))) + residual);
}

/// <summary>The layer stack, <c>encoder.layer.{i}</c>.</summary>
public sealed class BertEncoder : Module
{
    public BertEncoder(BertConfig config, Generator? generator = null) =>
        RegisterModule("layer", new ModuleList<BertLayer>(Enumerable.Range(0, config.Layers).Select(_ => new BertLayer(config, generator))));

    public ModuleList<BertLayer> Layers => Unwrapped<ModuleList<BertLayer>>("layer");
}

/// <summary>BERT's pooler: tanh(dense(hidden state of the first token, [CLS])).</summary>
public sealed class BertPooler : Module
{
    public BertPooler(BertConfig config, Generator? generator = null) =>
        RegisterModule("dense", new Linear(config.Hidden, config.Hidden, bias: true, generator));

    /// <summary>Last hidden state [B, T, H] to [B, H].</summary>
    public override Tensor Forward(Tensor hidden) => Child("dense").Forward(hidden.Select(1, 0)).Tanh();
}

namespace Engine.Nn;

/// <summary>What one branch of <see cref="MmrlPlusPlus"/> produces for a batch: the class feature f_c [B, H] (mean over the original tokens) and the representation feature f_r [B, H] (mean over the inserted tokens, through the head).</summary>
public sealed record MmrlFeatures(Tensor Class, Tensor Representation);

/// <summary>
/// MMRL++ in its text-only form (Guo et al., "MMRL++"; yunncheng/MMRL <c>trainers/mmrlpp.py</c>,
/// <c>clip/model_mmrlpp.py</c>; spec seeds-remaining.md §5): one frozen BERT encoder serves both "modalities", the
/// documents (branch D) and the class descriptions (branch T). A shared representation space R [n, d_r] (init
/// N(0, 0.02²)) is mapped into each branch by its own <see cref="SharedResidualAligner"/>; the n tokens go in right
/// after [CLS] at the first insertion layer (the attention mask grows by n kept positions; bidirectional, so nothing
/// else is rebuilt), and at later insertion layers <c>rep_in = β P_i(R) + (1 − β) rep_out_prev</c>. The class feature
/// f_c is the usual mean pooling over the original tokens; the representation feature is the mean of the
/// representation tokens times (I + A_p B_p) (a rank-r LoRA on the identity, since MiniLM has no output projection;
/// B_p = 0). Logits are scale · cos(f, t_k) with t_k the description features of branch T (class features, with the
/// representation tokens present). Trained: R, both aligners, A_p, B_p; the encoder stays frozen.
/// Parameters <c>representations</c>, <c>documents.*</c>, <c>descriptions.*</c>, <c>head_down</c>, <c>head_up</c>.
/// </summary>
public sealed class MmrlPlusPlus : Module
{
    readonly Bert _bert;

    /// <summary>MMRL++ on the frozen encoder <paramref name="bert"/> (its parameters are set not to require gradients).</summary>
    /// <exception cref="ArgumentException">An insertion layer outside the encoder, or non-positive sizes.</exception>
    public MmrlPlusPlus(Bert bert, MmrlConfig config, Generator? generator = null)
    {
        if (config.FirstLayer < 0 || config.FirstLayer >= bert.Config.Layers)
            throw new ArgumentException($"MmrlPlusPlus: the first insertion layer {config.FirstLayer} is outside the encoder's {bert.Config.Layers} layers");
        if (config.Tokens < 0 || config.SharedWidth < 1 || config.HeadRank < 1) throw new ArgumentException($"MmrlPlusPlus: tokens {config.Tokens} must be non-negative, widths positive");
        _bert = bert;
        Config = config;
        foreach (var p in bert.Parameters()) p.RequiresGrad = false;
        int layers = bert.Config.Layers - config.FirstLayer, width = bert.Config.Hidden;
        RegisterParameter("representations", Tensor.Randn([config.Tokens, config.SharedWidth], generator: generator) * 0.02);
        RegisterModule("documents", new SharedResidualAligner(config.SharedWidth, width, layers, generator));
        RegisterModule("descriptions", new SharedResidualAligner(config.SharedWidth, width, layers, generator));
        Init.KaimingUniform(RegisterParameter("head_down", Tensor.Zeros(config.HeadRank, width)), Math.Sqrt(5), generator: generator);
        RegisterParameter("head_up", Tensor.Zeros(width, config.HeadRank));
    }

    /// <summary>The settings.</summary>
    public MmrlConfig Config { get; }

    /// <summary>The aligner of branch D (documents).</summary>
    public SharedResidualAligner Documents => Unwrapped<SharedResidualAligner>("documents");

    /// <summary>The aligner of branch T (class descriptions).</summary>
    public SharedResidualAligner Descriptions => Unwrapped<SharedResidualAligner>("descriptions");

    /// <summary>What the representation tokens were fed at each insertion layer in the last <see cref="Encode"/> call, [B, n, H] each (for inspection and tests).</summary>
    public IReadOnlyList<Tensor> LastRepresentationInputs { get; private set; } = [];

    /// <summary>The features of token ids [B, T] (padding [B, T], true at padding) through the branch of <paramref name="aligner"/>.</summary>
    public MmrlFeatures Encode(Tensor ids, Tensor padding, SharedResidualAligner aligner)
    {
        int n = Config.Tokens, first = Config.FirstLayer;
        var embeddings = _bert.Embeddings;
        var x = embeddings.Forward(embeddings.Words(ids), 0, null);
        var mask = padding.To(DType.Bool);
        var layers = _bert.Encoder.Layers;
        var r = GetParameter("representations");
        var inputs = new List<Tensor>();
        for (int i = 0; i < layers.Count; i++)
        {
            if (i >= first && n > 0)
            {
                int b = x.Size(0);
                var projected = aligner.Project(r, i - first).To(x.DType).Unsqueeze(0).Expand(b, n, x.Size(2));
                if (i == first)
                {
                    x = Tensor.Concat([x.Narrow(1, 0, 1), projected, x.Narrow(1, 1, x.Size(1) - 1)], 1);
                    mask = Tensor.Concat([mask.Narrow(1, 0, 1), Tensor.Zeros([b, n], DType.Bool, mask.Device), mask.Narrow(1, 1, mask.Size(1) - 1)], 1);
                }
                else
                {
                    var carried = projected * Config.Beta + x.Narrow(1, 1, n) * (1 - Config.Beta);
                    x = Tensor.Concat([x.Narrow(1, 0, 1), carried, x.Narrow(1, 1 + n, x.Size(1) - 1 - n)], 1);
                }
                inputs.Add(x.Narrow(1, 1, n));
            }
            x = layers[i].Forward(x, mask, null);
        }
        LastRepresentationInputs = inputs;
        var original = n == 0 ? x : Tensor.Concat([x.Narrow(1, 0, 1), x.Narrow(1, 1 + n, x.Size(1) - 1 - n)], 1);
        var classFeature = Bert.MeanPool(original, padding.To(DType.Bool));
        if (n == 0) return new MmrlFeatures(classFeature, classFeature);
        var pooled = x.Narrow(1, 1, n).Mean(1);
        var head = GetParameter("head_up").MatMul(GetParameter("head_down"));
        return new MmrlFeatures(classFeature, pooled + pooled.MatMul(head.T.To(pooled.DType)));
    }

    /// <summary>scale · cos(f_i, t_k) [B, K] for features [B, H] and class features [K, H].</summary>
    public Tensor Logits(Tensor features, Tensor classes) =>
        RowNormalization.L2(features).MatMul(RowNormalization.L2(classes).T) * Config.Scale;

    /// <summary>
    /// The training loss <c>α CE(logits_c) + (1 − α) CE(logits_r) + λ [(1 − mean cos(f_c, f_c^zs)) + (1 − mean_k cos(t_k, t_k^zs))]</c>,
    /// with the zero-shot features of the documents <paramref name="zeroShotDocuments"/> [B, H] and of the descriptions
    /// <paramref name="zeroShotClasses"/> [K, H] (the frozen encoder's mean pooling).
    /// </summary>
    public Tensor Loss(MmrlFeatures documents, Tensor classes, Tensor labels, Tensor zeroShotDocuments, Tensor zeroShotClasses)
    {
        double a = Config.Alpha;
        var ce = Losses.CrossEntropy(Logits(documents.Class, classes), labels) * a
            + Losses.CrossEntropy(Logits(documents.Representation, classes), labels) * (1 - a);
        var documentDrift = 1.0 - (RowNormalization.L2(documents.Class) * RowNormalization.L2(zeroShotDocuments)).Sum(-1).Mean();
        var classDrift = 1.0 - (RowNormalization.L2(classes) * RowNormalization.L2(zeroShotClasses)).Sum(-1).Mean();
        return ce + (documentDrift + classDrift) * Config.Lambda;
    }

    /// <summary>The decoupled inference for base classes: <c>α logits_c + (1 − α) logits_r</c>.</summary>
    public Tensor BaseLogits(MmrlFeatures documents, Tensor classes) =>
        Logits(documents.Class, classes) * Config.Alpha + Logits(documents.Representation, classes) * (1 - Config.Alpha);
}

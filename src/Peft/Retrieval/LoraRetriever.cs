using Engine.Autograd;

namespace Engine.Peft.Retrieval;

/// <summary>
/// AutoLoRA's data-free retriever (spec seeds-remaining.md §1a): a <see cref="LoraWeightEncoder"/> E_w trained with a
/// symmetric InfoNCE loss (CLIP-style, logits = exp(t) ê_w ê_tᵀ, t learnable, init log(1/0.07)) to match frozen text
/// embeddings of the LoRAs' descriptions; retrieval ranks a library by cosine to a query's text embedding.
/// Trained: E_w and t. Frozen: the text embeddings, the LoRAs, the projections P.
/// </summary>
public sealed class LoraRetriever : Module
{
    /// <summary>Wraps <paramref name="encoder"/> and adds the temperature t = log(1/0.07).</summary>
    public LoraRetriever(LoraWeightEncoder encoder)
    {
        RegisterModule("encoder", encoder);
        RegisterParameter("logit_scale", Tensor.Scalar(Math.Log(1 / 0.07)));
    }

    /// <summary>E_w.</summary>
    public LoraWeightEncoder Encoder => Unwrapped<LoraWeightEncoder>("encoder");

    /// <summary>t, the log of the logit scale (a scalar).</summary>
    public Tensor LogitScale => GetParameter("logit_scale");

    /// <summary>
    /// Symmetric InfoNCE over K (LoRA, text) pairs: the mean of cross-entropy over rows (LoRA → text) and over columns
    /// (text → LoRA) of s · ê_w ê_tᵀ, where pair i matches i. <paramref name="textEmbeddings"/> [K, d_s] is frozen and
    /// normalised here.
    /// </summary>
    public Tensor ContrastiveLoss(IReadOnlyList<IReadOnlyList<LoraModuleWeights>> loras, Tensor textEmbeddings)
    {
        int k = loras.Count;
        if (textEmbeddings.Rank != 2 || textEmbeddings.Size(0) != k || textEmbeddings.Size(1) != Encoder.Options.OutputDim)
            throw new ArgumentException($"LoraRetriever: expects text embeddings [{k}, {Encoder.Options.OutputDim}], got {Shapes.Format(textEmbeddings.Shape)}");
        var w = Encoder.EncodeAll(loras);
        var t = Normalise(textEmbeddings.Detach().To(w.DType));
        var logits = w % t.T * LogitScale.To(w.DType).Exp();
        var targets = Tensor.FromArray(Enumerable.Range(0, k).Select(i => (long)i).ToArray());
        return (Losses.CrossEntropy(logits, targets) + Losses.CrossEntropy(logits.T, targets)) * 0.5;
    }

    /// <summary>
    /// Trains E_w and t with Adam for <paramref name="steps"/> full-batch steps on the K pairs; returns the loss of
    /// each step.
    /// </summary>
    public double[] Train(IReadOnlyList<IReadOnlyList<LoraModuleWeights>> loras, Tensor textEmbeddings, int steps, double lr = 1e-3)
    {
        if (steps < 0) throw new ArgumentException($"LoraRetriever: steps must be non-negative, got {steps}");
        var optimizer = new Adam(TrainableParameters(), lr);
        var losses = new double[steps];
        Train();
        for (int s = 0; s < steps; s++)
        {
            optimizer.ZeroGrad();
            var loss = ContrastiveLoss(loras, textEmbeddings);
            loss.Backward();
            optimizer.Step();
            losses[s] = loss.Item();
        }
        Eval();
        return losses;
    }

    /// <summary>Indices of the <paramref name="k"/> rows of <paramref name="libraryEmbeddings"/> [N, d_s] closest in cosine to <paramref name="query"/> [d_s], best first.</summary>
    public static int[] Retrieve(Tensor query, Tensor libraryEmbeddings, int k = 3)
    {
        if (libraryEmbeddings.Rank != 2 || query.Numel != libraryEmbeddings.Size(1))
            throw new ArgumentException($"LoraRetriever: query {Shapes.Format(query.Shape)} does not match library {Shapes.Format(libraryEmbeddings.Shape)}");
        if (k < 1 || k > libraryEmbeddings.Size(0))
            throw new ArgumentException($"LoraRetriever: k must be in [1, {libraryEmbeddings.Size(0)}], got {k}");
        double[] scores;
        using (Autograd.Autograd.NoGrad())
            scores = (Normalise(libraryEmbeddings.To(DType.Float64)) % Normalise(query.Reshape(1, -1).To(DType.Float64)).T).Reshape(-1).ToArray<double>();
        return Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(k).ToArray();
    }

    /// <summary>Rows scaled to unit length.</summary>
    static Tensor Normalise(Tensor rows) => rows / (rows * rows).Sum(1, keepDim: true).Sqrt();
}

using Engine.Autograd;

namespace Engine.Nn;

/// <summary>What <see cref="MultipletUpcycling.Run"/> produced.</summary>
/// <param name="Moe">The assembled mixture-of-experts GPT (routers trained for the options' RouterSteps).</param>
/// <param name="Stages">The N dense models whose FFNs became the experts; Stages[0] is the dense model itself.</param>
/// <param name="PseudoLabels">PseudoLabels[s−1]: the accumulated cluster of each text that stage s was trained with.</param>
public sealed record MultipletUpcyclingResult(Gpt Moe, IReadOnlyList<Gpt> Stages, IReadOnlyList<int[]> PseudoLabels);

/// <summary>
/// Diversified Multiplet Upcycling (CLIP-MoE, Zhang et al. 2024; spec structure-and-optimizers.md 2.3) in a
/// text-only form on the engine's GPT. Stage 0 is the dense model. Stage s = 1..N−1 clusters the stage-(s−1) model's
/// mean-pooled features of the training texts (k-means), combines those clusters with the earlier stages' into
/// pseudo-labels (<c>train/cluster.ipynb</c>), copies the <b>dense</b> model (each stage fine-tunes from the base, as
/// the readme's stage commands do), and trains only its FFNs (<c>lock_except_mlp</c> in <c>clipmoe/model_clipmoe.py</c>)
/// with a contrastive loss whose negatives are restricted by pseudo-label (<see cref="ClusterContrastiveLoss"/>;
/// same-cluster negatives, on batches that keep each pseudo-label together, as <c>train/dataset.py</c>'s batch
/// sampler), plus an optional next-token loss. The N FFN sets
/// become the experts of a top-k MoE (<see cref="SparseUpcycling.FromFeedForwardCopies"/>), and the routers alone are
/// trained with the LM loss and the top-k balance loss (<c>train/train_moe.py</c>, <c>lock_except_gate</c>).
/// <para>
/// Text-only choices: the two views of a text are two forward passes with independent dropout (SimCSE, Gao et al.
/// 2021: in their ablation dropout noise beat cropping and word deletion for sentence embeddings, and it keeps every
/// token, so the LM loss sees the whole text); the objective is InfoNCE between the views instead of CLIP's
/// image–caption InfoNCE. CLIP-MoE's experts serve a contrastive encoder; here they serve a language model, so the
/// stage loss keeps the next-token loss (<see cref="MultipletUpcyclingOptions.LmWeight"/>), which holds each FFN set
/// to a working LM and keeps the assembled MoE's loss near the dense one.
/// </para>
/// <code>
/// var result = MultipletUpcycling.Run(dense, texts, new MultipletUpcyclingOptions(Experts: 4, TopK: 2, Seed: 1));
/// </code>
/// </summary>
public static class MultipletUpcycling
{
    /// <summary>All three phases: <see cref="ExtractExperts"/>, <see cref="SparseUpcycling.FromFeedForwardCopies"/>, <see cref="TrainRouters"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid, the model is a mixture of experts, or a text is empty or too long.</exception>
    public static MultipletUpcyclingResult Run(Gpt dense, IReadOnlyList<long[]> texts, MultipletUpcyclingOptions options)
    {
        var (stages, labels) = ExtractExperts(dense, texts, options);
        var moe = SparseUpcycling.FromFeedForwardCopies(dense, stages, MoeOptionsOf(options), new Generator(options.Seed + 1000));
        TrainRouters(moe, texts, options);
        return new MultipletUpcyclingResult(moe, stages, labels);
    }

    /// <summary>
    /// The top-k MoE settings of <paramref name="options"/>: Mixtral-style renormalised top-k, no capacity, the balance
    /// loss at the options' coefficient and no z-loss (<c>train/train_moe.py</c> adds only the balance loss).
    /// </summary>
    public static MoeOptions MoeOptionsOf(MultipletUpcyclingOptions options) =>
        new(options.Experts, options.TopK, Renormalize: true, BalanceCoefficient: options.BalanceCoefficient, ZLossCoefficient: 0);

    /// <summary>
    /// The N dense models of Multistage Contrastive Learning (the dense model, then N−1 FFN-only fine-tuned copies)
    /// and the pseudo-labels each fine-tuned stage used.
    /// </summary>
    public static (IReadOnlyList<Gpt> Stages, IReadOnlyList<int[]> PseudoLabels) ExtractExperts(Gpt dense, IReadOnlyList<long[]> texts, MultipletUpcyclingOptions options)
    {
        Validate(dense, texts, options);
        var stages = new List<Gpt> { dense };
        var labels = new List<int[]>();
        var pseudo = new int[texts.Count];
        for (int s = 1; s < options.Experts; s++)
        {
            var clusters = KMeans.Fit(Features(stages[s - 1], texts, options.PadId), Math.Min(options.ClustersPerStage, texts.Count), new Generator(options.Seed + (ulong)s)).Labels;
            pseudo = AccumulateLabels(pseudo, clusters);
            labels.Add(pseudo);
            stages.Add(TrainStage(dense, texts, pseudo, options, s));
        }
        return (stages, labels);
    }

    /// <summary>
    /// The pseudo-labels of the next stage: texts share one only if they shared the previous pseudo-label and fall in
    /// the same new cluster (the product of all stages' clusterings, <c>train/cluster.ipynb</c>), numbered densely in
    /// order of first appearance.
    /// </summary>
    public static int[] AccumulateLabels(int[] previous, int[] clusters)
    {
        if (previous.Length != clusters.Length) throw new ArgumentException($"MultipletUpcycling: {previous.Length} previous labels but {clusters.Length} clusters");
        var ids = new Dictionary<(int, int), int>();
        return previous.Zip(clusters, (p, c) => ids.TryGetValue((p, c), out var id) ? id : ids[(p, c)] = ids.Count).ToArray();
    }

    /// <summary>The mean-pooled last hidden state of every text (evaluation mode, no dropout), one row per text.</summary>
    public static double[][] Features(Gpt model, IReadOnlyList<long[]> texts, long padId = 0, int batchSize = 64)
    {
        bool wasTraining = model.Training;
        model.Eval();
        var rows = new List<double[]>();
        using (Autograd.Autograd.NoGrad())
            for (int start = 0; start < texts.Count; start += batchSize)
            {
                var batch = Enumerable.Range(start, Math.Min(batchSize, texts.Count - start)).ToArray();
                var (ids, mask, _) = Batch(texts, batch, padId);
                var e = MeanPooledEmbedding.Of(model, ids, mask).ToDoubleArray();
                int c = model.Config.DModel;
                for (int i = 0; i < batch.Length; i++) rows.Add(e.AsSpan(i * c, c).ToArray());
            }
        model.Train(wasTraining);
        return rows.ToArray();
    }

    /// <summary>
    /// One stage: a copy of <paramref name="dense"/> whose FFNs alone are trained with the cluster-restricted
    /// contrastive loss between two dropout views (plus the weighted next-token loss); every other parameter stays
    /// bit-identical to the dense model's. The copy comes back with the dense model's config (its own dropout).
    /// </summary>
    public static Gpt TrainStage(Gpt dense, IReadOnlyList<long[]> texts, int[] pseudoLabels, MultipletUpcyclingOptions options, int stage)
    {
        Validate(dense, texts, options);
        if (pseudoLabels.Length != texts.Count) throw new ArgumentException($"MultipletUpcycling: {pseudoLabels.Length} pseudo-labels for {texts.Count} texts");
        var generator = new Generator(options.Seed * 7919 + (ulong)stage);
        var state = dense.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Detach().Clone());
        var model = new Gpt(dense.Config with { Dropout = Math.Max(dense.Config.Dropout, options.ViewDropout) }, generator);
        model.LoadStateDict(state);
        SparseUpcycling.TrainOnlyFeedForwards(model);
        model.Train();
        var optimizer = new AdamW(model.TrainableParameters().ToList(), options.StageLearningRate, weightDecay: 0);
        // Same-cluster negatives want batches drawn from one pseudo-label; other-cluster negatives want mixed ones.
        var groups = options.Negatives == ContrastiveNegatives.SameCluster ? pseudoLabels : null;
        foreach (var batch in Batches(texts.Count, options.BatchSize, options.StageSteps, generator, groups))
        {
            var (ids, mask, targets) = Batch(texts, batch, options.PadId);
            var h1 = model.LastHiddenState(ids);
            var h2 = model.LastHiddenState(ids);
            var loss = ClusterContrastiveLoss.Compute(MeanPooledEmbedding.Pool(h1, mask), MeanPooledEmbedding.Pool(h2, mask),
                batch.Select(i => (long)pseudoLabels[i]).ToArray(), options.Temperature, options.Negatives);
            if (options.LmWeight > 0 && ids.Size(1) > 1)
                loss = loss + Losses.CrossEntropy(Logits(model, h1).Narrow(1, 0, ids.Size(1) - 1), targets) * options.LmWeight;
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
        }
        var trained = new Gpt(dense.Config);
        trained.LoadStateDict(model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Detach().Clone()));
        trained.Train(dense.Training);
        return trained;
    }

    /// <summary>
    /// Trains only the routers of <paramref name="moe"/> (experts and shared weights frozen, as <c>lock_except_gate</c>)
    /// for the options' RouterSteps with the next-token loss plus the layers' auxiliary losses (those its
    /// <see cref="MoeOptions"/> ask for: with <see cref="MoeOptionsOf"/>, the top-k balance loss alone).
    /// </summary>
    public static void TrainRouters(Gpt moe, IReadOnlyList<long[]> texts, MultipletUpcyclingOptions options)
    {
        if (moe.Config.Moe is null) throw new ArgumentException("MultipletUpcycling: TrainRouters needs a mixture-of-experts GPT");
        if (options.RouterSteps == 0) return;
        foreach (var (name, p) in moe.NamedParameters()) p.RequiresGrad = name.Contains($".{TransformerBlock.MoeSlot}.router.");
        var optimizer = new AdamW(moe.TrainableParameters().ToList(), options.RouterLearningRate, weightDecay: 0);
        bool wasTraining = moe.Training;
        moe.Train();
        foreach (var batch in Batches(texts.Count, options.BatchSize, options.RouterSteps, new Generator(options.Seed + 2000)))
        {
            var (ids, _, targets) = Batch(texts, batch, options.PadId);
            if (ids.Size(1) < 2) continue;
            using var aux = AuxiliaryLosses.Collect();
            var logits = moe.Forward(ids).Narrow(1, 0, ids.Size(1) - 1);
            var loss = Losses.CrossEntropy(logits, targets) + aux.Total();
            optimizer.ZeroGrad();
            loss.Backward();
            optimizer.Step();
        }
        moe.Train(wasTraining);
    }

    // The LM head on a hidden state the stage already computed, so the LM loss needs no third forward pass.
    static Tensor Logits(Gpt model, Tensor hidden) =>
        model.Config.TiedHead ? hidden.MatMul(model.Tok.Weight.T) : model.Head!.Forward(hidden);

    /// <summary>
    /// <paramref name="steps"/> batches of distinct text indices, epoch after epoch: each epoch puts the texts in a
    /// random order that keeps each group (pseudo-label) together, groups in random order, and cuts it into batches of
    /// <paramref name="batchSize"/> (a last partial batch dropped when the epoch has a full one). Most batches then hold
    /// one group, as CLIP-MoE's <c>MCL_batch_sampler_DDP</c> (<c>train/dataset.py</c>) fills each batch from one
    /// pseudo-label, so the same-cluster negatives are the whole batch rather than the few a random batch would hold;
    /// a batch at a group boundary mixes two groups, which the cluster mask of <see cref="ClusterContrastiveLoss"/>
    /// handles, so unlike the reference no text is left out. All groups equal (or <paramref name="groups"/> null): plain shuffled epochs.
    /// </summary>
    public static IEnumerable<int[]> Batches(int count, int batchSize, int steps, Generator generator, int[]? groups = null)
    {
        if (groups is not null && groups.Length != count) throw new ArgumentException($"MultipletUpcycling: {groups.Length} groups for {count} texts");
        int size = Math.Min(batchSize, count);
        var order = Array.Empty<int>();
        int position = 0;
        for (int step = 0; step < steps; step++)
        {
            if (position + size > order.Length)
            {
                var keys = Tensor.Rand([2 * count], dtype: DType.Float64, generator: generator).ToDoubleArray();
                // A group's key is the key drawn at its first member's slot; members sort by their own keys within it.
                var groupKey = new Dictionary<int, double>();
                for (int i = 0; i < count; i++) groupKey.TryAdd(groups?[i] ?? 0, keys[count + i]);
                order = Enumerable.Range(0, count).OrderBy(i => groupKey[groups?[i] ?? 0]).ThenBy(i => keys[i]).ThenBy(i => i).ToArray();
                position = 0;
            }
            yield return order[position..(position + size)];
            position += size;
        }
    }

    // Right-padded ids [B, T], the real-token mask [B, T] and next-token targets [B, T−1] (−100 where the next token is padding).
    static (Tensor Ids, Tensor Mask, Tensor Targets) Batch(IReadOnlyList<long[]> texts, int[] batch, long padId)
    {
        int t = batch.Max(i => texts[i].Length);
        var ids = new long[batch.Length * t];
        var mask = new float[batch.Length * t];
        var targets = new long[batch.Length * Math.Max(t - 1, 0)];
        for (int r = 0; r < batch.Length; r++)
        {
            var text = texts[batch[r]];
            for (int j = 0; j < t; j++)
            {
                ids[r * t + j] = j < text.Length ? text[j] : padId;
                mask[r * t + j] = j < text.Length ? 1 : 0;
                if (j < t - 1) targets[r * (t - 1) + j] = j + 1 < text.Length ? text[j + 1] : -100;
            }
        }
        return (Tensor.FromArray(ids, [batch.Length, t]), Tensor.FromArray(mask, [batch.Length, t]), Tensor.FromArray(targets, [batch.Length, Math.Max(t - 1, 0)]));
    }

    static void Validate(Gpt dense, IReadOnlyList<long[]> texts, MultipletUpcyclingOptions options)
    {
        if (options.Problem() is { } problem) throw new ArgumentException($"MultipletUpcycling: {problem}");
        if (dense.Config.Moe is not null) throw new ArgumentException("MultipletUpcycling: the model is a mixture of experts already; start from a dense GPT");
        if (texts.Count < 2) throw new ArgumentException($"MultipletUpcycling: {texts.Count} texts; a contrastive batch needs at least 2");
        for (int i = 0; i < texts.Count; i++)
            if (texts[i].Length == 0 || (!dense.Config.Rotary && texts[i].Length > dense.Config.ContextLength))
                throw new ArgumentException($"MultipletUpcycling: text {i} has {texts[i].Length} tokens; each needs 1 to {dense.Config.ContextLength}");
    }
}

namespace Engine.Nn;

/// <summary>
/// Settings of the text-only Diversified Multiplet Upcycling (<see cref="MultipletUpcycling"/>; CLIP-MoE, spec
/// structure-and-optimizers.md 2.3). The defaults give CLIP-MoE's released shape (4 experts, top-2, renormalised) and
/// its router balance weight 0.01 (<c>train/train_moe.py</c>, beta); the contrastive temperature is SimCSE's 0.05
/// rather than CLIP's 0.01, as the two views are dropout noise of one text, not an image and a caption.
/// </summary>
/// <param name="Experts">N: stage 0 (the dense FFNs) and N−1 fine-tuned stages become the N experts.</param>
/// <param name="TopK">Experts per token of the assembled MoE.</param>
/// <param name="ClustersPerStage">k of each stage's k-means; the pseudo-labels of stage s combine the clusters of all earlier stages (up to k^s groups), as <c>train/cluster.ipynb</c> accumulates them.</param>
/// <param name="StageSteps">Optimiser steps of each fine-tuning stage.</param>
/// <param name="BatchSize">Sequences per step (the contrastive negatives come from within a batch).</param>
/// <param name="StageLearningRate">AdamW learning rate of the FFNs in a stage.</param>
/// <param name="Temperature">InfoNCE temperature τ.</param>
/// <param name="ViewDropout">Dropout of the stage copy that makes the two views (SimCSE's 0.1); the dense model's own dropout is used where larger.</param>
/// <param name="LmWeight">Weight of the next-token loss added to the contrastive loss in a stage (0: contrastive only, as CLIP-MoE).</param>
/// <param name="Negatives">Which pairs are negatives (<see cref="ContrastiveNegatives"/>; the reference code's same-cluster batches by default).</param>
/// <param name="RouterSteps">Router-training steps after assembly (0: leave the routers fresh; the caller trains them).</param>
/// <param name="RouterLearningRate">AdamW learning rate of the routers.</param>
/// <param name="BalanceCoefficient">Weight of the top-k load-balancing loss during router training.</param>
/// <param name="Seed">Seeds the clustering, the batches, the dropout and the routers.</param>
/// <param name="PadId">Token id used to right-pad a batch (masked out of the pooling and the LM loss).</param>
public sealed record MultipletUpcyclingOptions(
    int Experts = 4,
    int TopK = 2,
    int ClustersPerStage = 3,
    int StageSteps = 100,
    int BatchSize = 32,
    double StageLearningRate = 1e-4,
    double Temperature = 0.05,
    double ViewDropout = 0.1,
    double LmWeight = 1.0,
    ContrastiveNegatives Negatives = ContrastiveNegatives.SameCluster,
    int RouterSteps = 100,
    double RouterLearningRate = 1e-3,
    double BalanceCoefficient = 0.01,
    ulong Seed = 0,
    long PadId = 0)
{
    /// <summary>What is wrong with these settings, or null.</summary>
    public string? Problem()
    {
        if (Experts < 2) return $"Experts {Experts} must be at least 2 (stage 0 and one fine-tuned stage)";
        if (TopK < 1 || TopK > Experts) return $"TopK {TopK} must be in [1, Experts = {Experts}]";
        if (ClustersPerStage < 1) return $"ClustersPerStage {ClustersPerStage} must be at least 1";
        if (StageSteps < 0 || RouterSteps < 0) return $"StageSteps {StageSteps} and RouterSteps {RouterSteps} must be at least 0";
        if (BatchSize < 2) return $"BatchSize {BatchSize} must be at least 2 (a contrastive batch needs a negative)";
        if (!(Temperature > 0) || !double.IsFinite(Temperature)) return $"Temperature {Temperature} must be positive and finite";
        if (!(ViewDropout > 0 && ViewDropout < 1)) return $"ViewDropout {ViewDropout} must be in (0, 1): the two views differ only by dropout";
        if (!(LmWeight >= 0) || !double.IsFinite(LmWeight)) return $"LmWeight {LmWeight} must be finite and at least 0";
        if (!(StageLearningRate > 0) || !(RouterLearningRate > 0)) return "the learning rates must be positive";
        if (!(BalanceCoefficient >= 0) || !double.IsFinite(BalanceCoefficient)) return $"BalanceCoefficient {BalanceCoefficient} must be finite and at least 0";
        return null;
    }
}

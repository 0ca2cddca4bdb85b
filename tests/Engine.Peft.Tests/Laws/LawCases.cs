using Engine.Peft.Elementwise;
using Engine.Peft.Growth;
using Engine.Peft.Inserted;
using Engine.Peft.IntrinsicDim;
using Engine.Peft.Kind;
using Engine.Peft.LowRank;
using Engine.Peft.Multitask;
using Engine.Peft.Lycoris;
using Engine.Peft.Mixture;
using Engine.Peft.Orthogonal;
using Engine.Peft.Prompt;
using Engine.Peft.RandomBasis;
using Engine.Peft.Rotation;
using Engine.Peft.Routed;
using Engine.Peft.Scaling;
using Engine.Peft.Selective;
using Engine.Peft.Structured;
using Engine.Peft.Spectral;
using Engine.Peft.SparseTuning;
using Engine.Peft.Subspace;
using Engine.Peft.SharedBasis;
using Engine.Peft.SharedBank;
using Engine.Peft.Tucker;
using Engine.Peft.Transfer;
using Engine.Peft.ModuleSearch;
using Engine.Peft.Singular;
using Engine.Peft.Sparse;
using Xunit;

namespace Engine.Peft.Tests.Laws;

/// <summary>
/// One row of the law tests: a registered method (or one of its variants) with a configuration for the law model at
/// initialisation and one whose adapter is non-trivial from the start. <see cref="LawCases.NonTrivial"/> also adds
/// seeded noise to every trainable tensor, so tensors that start at zero (AdaLoRA's lambda, VeRA's b) take part too.
/// </summary>
/// <param name="Name">The row's name in test output (a method's CLI name or a variant's name).</param>
/// <param name="PeftType">The method's <c>peft_type</c>.</param>
/// <param name="Variant">The registered variant the row stands for, or null for the method itself.</param>
/// <param name="AtInit">The configuration with the method's own initialisation.</param>
/// <param name="NonTrivial">A configuration whose adapter changes the model before any scrambling, where the method allows it.</param>
/// <param name="MovesBaseWeight">The initialisation moves part of the base weight into the adapter (PiSSA, OLoRA):
/// the base of the adapted model is the residual, and only deleting the adapter gives the original weights back.</param>
/// <param name="DropsBaseComponents">Adding the adapter removes part of the base weight for good (KaSA truncates its
/// smallest singular components): a fresh adapter equals the truncated base, not the original, and disabling it gives
/// the truncated base; only deleting the adapter gives the original weights back.</param>
/// <param name="Calibrated">The initialisation runs the model on data (<see cref="ICalibratedConfig"/>: EVA, CorDA,
/// LoRA-GA): every law adds the adapter with <see cref="LawCases.Calibration"/> of its model.</param>
/// <param name="NotMergeable">A variant of a mergeable method whose layers refuse to merge it (aLoRA: its update
/// depends on the position); the merge law then expects the refusal.</param>
/// <param name="ApproximateGradient">In training mode the method's backward is approximate by design (VeLoRA compresses
/// lora_A's input): the gradient law then checks that training-mode gradients differ from central differences and that
/// evaluation-mode gradients (where the method computes the exact one, as PEFT does) match them.</param>
/// <param name="GradientCheck">The configuration of the gradient law, when it cannot be <paramref name="NonTrivial"/>: a
/// method that cuts the gradient to its layer's input by design (FlyLoRA's A x without gradient) is not differentiated
/// through the routing of a later adapted layer, which central differences see; one adapted layer has no such path.</param>
public sealed record LawCase(string Name, string PeftType, string? Variant, Func<PeftConfig> AtInit, Func<PeftConfig> NonTrivial, bool MovesBaseWeight = false,
    bool DropsBaseComponents = false, bool Calibrated = false, bool NotMergeable = false, bool ApproximateGradient = false, Func<PeftConfig>? GradientCheck = null)
{
    /// <summary>The registered method.</summary>
    public PeftMethodInfo Method => PeftRegistry.ByPeftType(PeftType);

    /// <summary>True when the registry says the method has <paramref name="capability"/> (and the row does not take it away).</summary>
    public bool Has(AdapterCapabilities capability) =>
        Method.Capabilities.HasFlag(capability) && !(NotMergeable && capability.HasFlag(AdapterCapabilities.Mergeable));

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>The case rows of the law tests, the law model and the helpers every law uses.</summary>
public static class LawCases
{
    static readonly ModuleSelector Linears = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static PolyhistorConfig Polyhistor => new() { BottleneckSize = 3, HyperRank = 2, EmbeddingDim = 3, NTasks = 2, DefaultTaskId = 1, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 };

    static ScaLearnConfig ScaLearn() => new()
    {
        NewSources = [new BottleneckConfig { BottleneckSize = 2, InitStd = 0.3 }, new BottleneckConfig { BottleneckSize = 3, InitStd = 0.3 }],
        DropoutRatio = 0, TargetModules = ["mlp.proj"], Seed = 5,
    };

    static LoraConfig Lora => new() { R = 2, LoraAlpha = 4, TargetModules = Linears, Seed = 5 };

    static IncreLoraConfig IncreLora => new() { R = 2, TargetRank = 4, InitWarmup = 100, IncreInterval = 10, LoraAlpha = 4, TargetModules = Linears, Seed = 5 };

    static TriAdaptLoraConfig TriAdaptLora => new() { ReferenceRank = 4, InitRank = 1, TotalStep = 200, InitWarmup = 100, IncreInterval = 10, LoraAlpha = 4, TargetModules = Linears, Seed = 5 };

    static BdLoraConfig BdLora => new() { TargetModulesBdA = ["qkv", "mlp.fc"], TargetModulesBdB = ["attn.proj", "mlp.proj"], Nblocks = 2 };

    static AdaLoraConfig AdaLora => new() { InitR = 4, TargetR = 2, LoraAlpha = 4, TotalStep = 10, Tinit = 1, Tfinal = 2, TargetModules = Linears, Seed = 5 };

    /// <summary>Every row. A registered method or variant without one fails <c>EveryRegisteredMethodAndVariant_HasACaseRow</c>.</summary>
    public static readonly IReadOnlyList<LawCase> All =
    [
        new("lora", "LORA", null, () => Lora, () => Lora with { InitLoraWeights = LoraInit.Random }),
        // The exact DoRA gradient (norm not detached), so that the gradient check applies.
        new("dora", "LORA", "dora", () => Lora with { UseDora = true, DoraDetachNorm = false },
            () => Lora with { UseDora = true, DoraDetachNorm = false, InitLoraWeights = LoraInit.Random }),
        new("rslora", "LORA", "rslora", () => Lora with { UseRsLora = true }, () => Lora with { UseRsLora = true, InitLoraWeights = LoraInit.Random }),
        new("pissa", "LORA", "pissa", () => Lora with { InitLoraWeights = LoraInit.Pissa }, () => Lora with { InitLoraWeights = LoraInit.Pissa }, MovesBaseWeight: true),
        new("olora", "LORA", "olora", () => Lora with { InitLoraWeights = LoraInit.Olora }, () => Lora with { InitLoraWeights = LoraInit.Olora }, MovesBaseWeight: true),
        new("kasa", "LORA", "kasa", () => Lora with { KasaConfig = new() }, () => Lora with { KasaConfig = new(), InitLoraWeights = LoraInit.Random }, DropsBaseComponents: true),
        // B is frozen: the scrambling makes A non-zero.
        new("mica", "LORA", "mica", () => Lora with { InitLoraWeights = LoraInit.Mica }, () => Lora with { InitLoraWeights = LoraInit.Mica }),
        new("orthogonal", "LORA", "orthogonal", () => Lora with { InitLoraWeights = LoraInit.Orthogonal }, () => Lora with { InitLoraWeights = LoraInit.Orthogonal }),
        // LoftQ replaces the base by its NF4 quantisation Q and moves W - Q (approximately) into B A: it moves base weight,
        // and only deleting the adapter gives W back. At full rank (16 = min(out, in) of every law layer) and s = 1 the
        // fresh adapter is Q + B A = W to rounding; the non-trivial row is rank 2, s = 2, two iterations.
        new("loftq", "LORA", "loftq", () => Lora with { R = 16, LoraAlpha = 16, InitLoraWeights = LoraInit.Loftq, LoftqConfig = new() },
            () => Lora with { InitLoraWeights = LoraInit.Loftq, LoftqConfig = new() { LoftqIter = 2 } }, MovesBaseWeight: true),
        // EVA: A from the PCA of each target's inputs on LawCases.Calibration, ranks redistributed (a target may drop out), B = 0.
        new("eva", "LORA", "eva", () => Lora with { InitLoraWeights = LoraInit.Eva }, () => Lora with { InitLoraWeights = LoraInit.Eva }, Calibrated: true),
        // Data-driven: the covariance of each target's inputs (CorDA) or the averaged gradient of its weight (LoRA-GA)
        // decides the part of the base weight that moves into the adapter. KPM takes the smallest components.
        new("corda", "LORA", "corda", () => Lora with { InitLoraWeights = LoraInit.Corda }, () => Lora with { InitLoraWeights = LoraInit.Corda },
            MovesBaseWeight: true, Calibrated: true),
        new("corda_kpm", "LORA", null, () => Lora with { InitLoraWeights = LoraInit.Corda, CordaConfig = new() { CordaMethod = "kpm" } },
            () => Lora with { InitLoraWeights = LoraInit.Corda, CordaConfig = new() { CordaMethod = "kpm" } }, MovesBaseWeight: true, Calibrated: true),
        new("loraga", "LORA", "loraga", () => Lora with { InitLoraWeights = LoraInit.LoraGa, LoraGaConfig = new() },
            () => Lora with { InitLoraWeights = LoraInit.LoraGa, LoraGaConfig = new() { Direction = "ArBr", Scale = "weight_svd" } }, MovesBaseWeight: true, Calibrated: true),
        // Config-only (no CLI variant): A block-diagonal on the row-sharded layers, B on the column-sharded ones.
        new("bdlora", "LORA", null, () => Lora with { UseBdlora = BdLora }, () => Lora with { UseBdlora = BdLora, InitLoraWeights = LoraInit.Random }),
        // The law model is in evaluation mode, where MonteCLoRA is plain LoRA with the mean A (deterministic: gradient
        // check, merge, save/load, ILGPU); the sampler's s and e get no gradient there. The training law (Trainer: training
        // mode) runs the stochastic forward and adds the regulariser, and every trained tensor, s and e included, moves.
        new("monteclora", "LORA", "monteclora", () => Lora with { MontecloraConfig = new() },
            () => Lora with { MontecloraConfig = new() { NumSamples = 3, SampleScaler = 0.1, UseEntropy = true }, InitLoraWeights = LoraInit.Random }),
        // 3 groups divide neither input width (16: sub-tokens of 6, 32: of 11), so the padding is covered. A's gradient in
        // training is the compressed one, not the derivative of the forward: GradCheck cannot hold there (ApproximateGradient).
        new("velora", "LORA", "velora", () => Lora with { VeloraConfig = new() { NumGroups = 3 } },
            () => Lora with { VeloraConfig = new() { NumGroups = 3, Scale = 1.5 }, InitLoraWeights = LoraInit.Random }, ApproximateGradient: true),
        // Groups of 4 features: A is [2, 4] on the 16-wide inputs and [2, 8] on mlp.proj's 32.
        new("qalora", "LORA", "qalora", () => Lora with { UseQalora = true, QaloraGroupSize = 4 },
            () => Lora with { UseQalora = true, QaloraGroupSize = 4, InitLoraWeights = LoraInit.Random }),
        // lambda starts at zero: the scrambling makes it non-trivial.
        new("adalora", "ADALORA", null, () => AdaLora, () => AdaLora),
        new("vera", "VERA", null, () => new VeraConfig { R = 4, TargetModules = Linears, ProjectionPrngKey = 3 },
            () => new VeraConfig { R = 4, TargetModules = Linears, ProjectionPrngKey = 3, DInitial = 0.5 }),
        new("randlora", "RANDLORA", null, () => new RandLoraConfig { R = 3, RandloraAlpha = 6, TargetModules = Linears, ProjectionPrngKey = 3 },
            () => new RandLoraConfig { R = 3, RandloraAlpha = 6, TargetModules = Linears, ProjectionPrngKey = 3, InitWeights = false, Seed = 5 }),
        new("frod", "FROD", null, () => new FrodConfig { SparseRate = 0.1, TargetModules = Linears, ProjectionPrngKey = 3 },
            () => new FrodConfig { SparseRate = 0.1, TargetModules = Linears, ProjectionPrngKey = 3, InitWeights = false, Seed = 5 }),
        // Clusters of uneven sizes with rank-2 updates; init_weights = null starts B at N(0, 0.01²).
        new("adamss", "ADAMSS", null, () => new AdamssConfig { R = 6, NumSubspaces = 3, SubspaceRank = 2, TargetModules = Linears, RandomSeed = 3 },
            () => new AdamssConfig { R = 6, NumSubspaces = 3, SubspaceRank = 2, TargetModules = Linears, RandomSeed = 3, InitWeights = null, Seed = 5 }),
        new("loha", "LOHA", null, () => new LohaConfig { R = 2, Alpha = 4, TargetModules = Linears, Seed = 5 },
            () => new LohaConfig { R = 2, Alpha = 4, TargetModules = Linears, InitWeights = false, Seed = 5 }),
        // Rank 2 is below half of every factor of the law model's widths: W2 (and with decompose_both W1) is a product.
        new("lokr", "LOKR", null, () => new LokrConfig { R = 2, Alpha = 4, TargetModules = Linears, Seed = 5 },
            () => new LokrConfig { R = 2, Alpha = 4, TargetModules = Linears, InitWeights = LokrInit.Random, DecomposeBoth = true, Seed = 5 }),
        new("delora", "DELORA", null, () => new DeloraConfig { R = 2, DeloraLambda = 2, TargetModules = Linears, Seed = 5 },
            () => new DeloraConfig { R = 2, DeloraLambda = 2, TargetModules = Linears, InitWeights = false, Seed = 5 }),
        new("gralora", "GRALORA", null, () => new GraloraConfig { R = 2, Alpha = 4, TargetModules = Linears, Seed = 5 },
            () => new GraloraConfig { R = 2, Alpha = 4, TargetModules = Linears, InitWeights = false, Seed = 5 }),
        // hybrid_r adds a plain LoRA beside the 2 x 2 grid (its own keys, gralora_A_general / gralora_B_general).
        new("gralora_hybrid", "GRALORA", null, () => new GraloraConfig { R = 4, HybridR = 2, Alpha = 6, TargetModules = Linears, Seed = 5 },
            () => new GraloraConfig { R = 4, HybridR = 2, Alpha = 6, TargetModules = Linears, InitWeights = false, Seed = 5 }),
        // r = 3 divides none of the law model's input widths (16, 32): the last shard is partial.
        new("miss", "MISS", null, () => new MissConfig { R = 3, TargetModules = Linears, Seed = 5 },
            () => new MissConfig { R = 3, TargetModules = Linears, InitWeights = MissInit.Random, Seed = 5 }),
        new("miss_bat", "MISS", "miss_bat", () => new MissConfig { R = 4, InitWeights = MissInit.Bat, TargetModules = Linears, Seed = 5 },
            () => new MissConfig { R = 4, InitWeights = MissInit.Bat, TargetModules = Linears, Seed = 5 }),
        new("miss_mini", "MISS", "miss_mini", () => new MissConfig { R = 3, MiniR = 8, InitWeights = MissInit.Mini, TargetModules = Linears, Seed = 5 },
            () => new MissConfig { R = 3, MiniR = 8, InitWeights = MissInit.Mini, TargetModules = Linears, Seed = 5 }),
        // FourierFT starts random (PEFT's default); scaling 10 keeps ΔW of order one at n = 20.
        new("fourierft", "FOURIERFT", null, () => new FourierFtConfig { NFrequency = 20, Scaling = 10, TargetModules = Linears, Seed = 5 },
            () => new FourierFtConfig { NFrequency = 20, Scaling = 10, RandomLocSeed = 3, TargetModules = Linears, Seed = 5 }),
        // Blocks of 4 divide every width of the law model (16, 32, 48).
        new("c3a", "C3A", null, () => new C3aConfig { BlockSize = 4, TargetModules = Linears, Seed = 5 },
            () => new C3aConfig { BlockSize = 4, InitWeights = C3aInit.Gaussian, TargetModules = Linears, Seed = 5 }),
        new("shira", "SHIRA", null, () => new ShiraConfig { R = 1, RandomSeed = 3, TargetModules = Linears, Seed = 5 },
            () => new ShiraConfig { R = 1, RandomSeed = 3, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        new("waveft", "WAVEFT", null, () => new WaveFtConfig { NFrequency = 20, Scaling = 5, TargetModules = Linears, Seed = 5 },
            () => new WaveFtConfig { NFrequency = 20, Scaling = 5, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // Config-only: a longer filter (the grid grows by L − 2 and is centred) and the budget shared by layer size.
        new("waveft-coif2-proportional", "WAVEFT", null, () => new WaveFtConfig { NFrequency = 20, Scaling = 5, WaveletFamily = "coif2", ProportionalParameters = true, TargetModules = Linears, Seed = 5 },
            () => new WaveFtConfig { NFrequency = 20, Scaling = 5, WaveletFamily = "coif2", ProportionalParameters = true, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // DeFT's non-trivial row uses the QR projector, so the laws cover the differentiable QR (the relu one is in DeftTests).
        new("deft", "DEFT", null, () => new DeftConfig { R = 2, TargetModules = Linears, Seed = 5 },
            () => new DeftConfig { R = 2, Alpha = 4, DecompositionMethod = "qr", InitWeights = false, Seed = 5, TargetModules = Linears }),
        new("peanut", "PEANUT", null, () => new PeanutConfig { R = 2, Depth = 1, TargetModules = Linears, Seed = 5 },
            () => new PeanutConfig { R = 3, Depth = 2, ActFn = "gelu_new", Scaling = 0.5, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // The exact Cayley transform (the differentiable inverse) with a random Q; the Neumann series is in PsoftTests.
        new("psoft", "PSOFT", null, () => new PsoftConfig { R = 2, PsoftAlpha = 4, TargetModules = Linears, Seed = 5 },
            () => new PsoftConfig { R = 3, PsoftAlpha = 6, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        new("ia3", "IA3", null, () => new Ia3Config { TargetModules = ["qkv", "mlp.proj"], FeedforwardModules = ["mlp.proj"], Seed = 5 },
            () => new Ia3Config { TargetModules = ["qkv", "mlp.proj"], FeedforwardModules = ["mlp.proj"], InitIa3Weights = false, Seed = 5 }),
        new("bottleneck", "BOTTLENECK", null, () => new BottleneckConfig { BottleneckSize = 4, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 },
            () => new BottleneckConfig { BottleneckSize = 4, TargetModules = ["attn.proj", "mlp.proj"], InitStd = 0.3, ModulesToSave = ["ln1", "ln2"], Seed = 5 }),
        // Widths 16, 32 and 48 are multiples of the vector length 8; the adapter changes the model from the start.
        new("vblora", "VBLORA", null, () => new VbLoraConfig { R = 2, NumVectors = 6, VectorLength = 8, TargetModules = Linears, Seed = 5 },
            () => new VbLoraConfig { R = 2, NumVectors = 6, VectorLength = 8, Topk = 3, InitLogitsStd = 1, TargetModules = Linears, Seed = 5 }),
        new("tinylora", "TINYLORA", null, () => new TinyLoraConfig { R = 2, U = 3, TargetModules = Linears, Seed = 5 },
            () => new TinyLoraConfig { R = 3, U = 3, WeightTying = 0.5, InitWeights = TinyLoraInit.Uniform, InitVBound = 0.5, TargetModules = Linears, Seed = 5 }),
        new("pvera", "PVERA", null, () => new PveraConfig { R = 4, TargetModules = Linears, ProjectionPrngKey = 3 },
            () => new PveraConfig { R = 4, TargetModules = Linears, ProjectionPrngKey = 3, InitWeights = false }),
        new("unilora", "UNILORA", null, () => new UniLoraConfig { R = 2, ThetaDLength = 20, TargetModules = Linears, Seed = 5 },
            () => new UniLoraConfig { R = 2, ThetaDLength = 20, InitThetaDBound = 0.5, TargetModules = Linears, Seed = 5 }),
        // Intrinsic dimension: θ^(d) starts at zero (the model equals its base); the non-trivial rows get seeded noise on it. One row per projection.
        new("intrinsic", "INTRINSIC_DIM", null, () => new IntrinsicDimConfig { IntrinsicDim = 12, ProjectionSeed = 3, TargetModules = Linears, Seed = 5 },
            () => new IntrinsicDimConfig { IntrinsicDim = 12, ProjectionSeed = 3, TargetModules = Linears, Seed = 5 }),
        new("intrinsic_dense", "INTRINSIC_DIM", null, () => new IntrinsicDimConfig { IntrinsicDim = 12, Projection = "dense", ProjectionSeed = 3, TargetModules = Linears, Seed = 5 },
            () => new IntrinsicDimConfig { IntrinsicDim = 12, Projection = "dense", ProjectionSeed = 3, TargetModules = Linears, Seed = 5 }),
        new("intrinsic_sparse", "INTRINSIC_DIM", null, () => new IntrinsicDimConfig { IntrinsicDim = 12, Projection = "sparse", ProjectionSeed = 3, TargetModules = Linears, Seed = 5 },
            () => new IntrinsicDimConfig { IntrinsicDim = 12, Projection = "sparse", ProjectionSeed = 3, TargetModules = Linears, Seed = 5 }),
        new("prompt", "PROMPT_TUNING", null, () => new PromptTuningConfig { NumVirtualTokens = 3, Seed = 5 },
            () => new PromptTuningConfig { NumVirtualTokens = 3, Seed = 5 }),
        new("prefix", "PREFIX_TUNING", null, () => new PrefixTuningConfig { NumVirtualTokens = 3, InitWeights = "zero", Seed = 5 },
            () => new PrefixTuningConfig { NumVirtualTokens = 3, Seed = 5 }),
        new("prefix_projection", "PREFIX_TUNING", null, () => new PrefixTuningConfig { NumVirtualTokens = 3, PrefixProjection = true, EncoderHiddenSize = 8, Seed = 5 },
            () => new PrefixTuningConfig { NumVirtualTokens = 3, PrefixProjection = true, EncoderHiddenSize = 8, Seed = 5 }),
        // P-tuning trains its encoder (the MLP, or the LSTM variant's bidirectional LSTM and MLP); files hold its output.
        new("p_tuning", "P_TUNING", null, () => new PTuningConfig { NumVirtualTokens = 3, EncoderHiddenSize = 8, Seed = 5 },
            () => new PTuningConfig { NumVirtualTokens = 3, EncoderHiddenSize = 8, Seed = 5 }),
        new("p_tuning_lstm", "P_TUNING", "p_tuning_lstm", () => new PTuningConfig { NumVirtualTokens = 3, EncoderReparameterizationType = "LSTM", EncoderHiddenSize = 4, Seed = 5 },
            () => new PTuningConfig { NumVirtualTokens = 3, EncoderReparameterizationType = "LSTM", EncoderHiddenSize = 4, Seed = 5 }),
        new("cartridge", "CARTRIDGE", null, () => new CartridgeConfig { NumVirtualTokens = 3, Seed = 5 },
            () => new CartridgeConfig { NumVirtualTokens = 3, NumFrozenTokens = 2, Seed = 5 }),
        // Types 1–3 only, and ε-balls wide enough that the scrambled delta stays inside: the projection and the
        // gradient mask are not differentiable, so central differences would see them (CptTests covers both).
        new("cpt", "CPT", null, () => new CptConfig { CptTokenIds = [3, 7, 1], CptTokensTypeMask = [1, 2, 3], OptProjectionEpsilon = 100, OptProjectionFormatEpsilon = 100, Seed = 5 },
            () => new CptConfig { CptTokenIds = [3, 7, 1, 9], CptTokensTypeMask = [1, 2, 3, 1], OptProjectionEpsilon = 100, OptProjectionFormatEpsilon = 100, Seed = 5 }),
        new("hira", "HIRA", null, () => new HiraConfig { R = 2, TargetModules = Linears, Seed = 5 },
            () => new HiraConfig { R = 2, TargetModules = Linears, InitWeights = HiraInit.Random, Seed = 5 }),
        new("beft", "BEFT", null, () => new BeftConfig { TargetModules = Linears, Seed = 5 },
            () => new BeftConfig { TargetModules = Linears, InitWeights = false, Seed = 5 }),
        // A tenth of each weight trained, with Supra's LoRA (r 2) on top.
        new("supertuning", "SUPERTUNING", null, () => new SupertuningConfig { Sparsity = 0.9, R = 2, TargetModules = Linears, Seed = 5 },
            () => new SupertuningConfig { Sparsity = 0.9, R = 2, TargetModules = Linears, InitWeights = false, Seed = 5 }),
        new("supertuning_unsaved", "SUPERTUNING", "supertuning_unsaved", () => new SupertuningConfig { Sparsity = 0.8, SavePrecomputedIndices = false, TargetModules = Linears, Seed = 5 },
            () => new SupertuningConfig { Sparsity = 0.8, SavePrecomputedIndices = false, TargetModules = Linears, InitWeights = false, Seed = 5 }),
        // The default paths (A, B, C low-rank, D, E constants) at init; vectors for A, B, D, E when non-trivial.
        new("glora", "GLORA", null, () => new GloraConfig { R = 2, TargetModules = Linears, Seed = 5 },
            () => new GloraConfig { R = 2, TargetModules = Linears, ConfigAB = "vector", ConfigDE = "vector", InitWeights = false, Seed = 5 }),
        // Config-only (no CLI variant). The invocation [5, 2] starts at position 1 of the first row of Ids() and is not in
        // the second, which keeps the base output; merging is refused (the update depends on the position).
        new("alora", "LORA", null, () => Lora with { AloraInvocationTokens = [5, 2] },
            () => Lora with { AloraInvocationTokens = [5, 2], InitLoraWeights = LoraInit.Random }, NotMergeable: true),
        // HRA: r = 2 starts at H = I (a repeated column); r = 3 random. apply_GS has no row: PEFT's Gram–Schmidt start is
        // not the identity (Rotation/HraTests covers it: gradients, orthogonality, merge).
        new("hra", "HRA", null, () => new HraConfig { R = 2, TargetModules = Linears, Seed = 5 },
            () => new HraConfig { R = 3, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // RoAd: groups of 4 divide every output width of the law model (16, 32, 48). road_4's random start can make a pair's
        // block [[c1, -d1], [d2, c2]] nearly singular (its own θ and α for c and d), which the unmerge amplifies; its
        // non-trivial row is the scrambled identity.
        new("road", "ROAD", null, () => new RoadConfig { GroupSize = 4, TargetModules = Linears, Seed = 5 },
            () => new RoadConfig { GroupSize = 4, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        new("road_2", "ROAD", "road_2", () => new RoadConfig { Variant = "road_2", GroupSize = 4, TargetModules = Linears, Seed = 5 },
            () => new RoadConfig { Variant = "road_2", GroupSize = 8, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        new("road_4", "ROAD", "road_4", () => new RoadConfig { Variant = "road_4", GroupSize = 4, TargetModules = Linears, Seed = 5 },
            () => new RoadConfig { Variant = "road_4", GroupSize = 8, TargetModules = Linears, Seed = 5 }),
        // OSF: in training the gradients of U_low and V_low are projected off the frozen subspaces (by design not the
        // derivative: ApproximateGradient); in evaluation mode they are exact. A quarter of each spectrum frozen, half of mlp.fc's.
        new("osf", "OSF", null, () => new OsfConfig { TargetModules = Linears, Seed = 5 },
            () => new OsfConfig { EffectiveRank = 0.25, RankPattern = new Dictionary<string, double> { ["mlp\\.fc"] = 8 }, TargetModules = Linears, Seed = 5 },
            ApproximateGradient: true),
        // Issue 18, SaRA: the entries with |W0| < θ (about 40% of the law model's weights at θ = 0.1) train as a sparse
        // delta starting at 0; non-trivial adds the nuclear-norm regulariser on every law weight (min dim > 8).
        new("sara", "SARA", null, () => new SaraConfig { Threshold = 0.1, TargetModules = Linears, Seed = 5 },
            () => new SaraConfig { Threshold = 0.15, LambdaRank = 1e-2, NuclearMinDim = 8, TargetModules = Linears, Seed = 5 }),
        // Task-routed (TaskIds): the laws run plain forwards, so these rows route every example to task 1 of 2 by the
        // engine's default_task_id (saved with the file, so the reloaded adapter routes the same way). Poly's 2 splits
        // divide every width (16, 32, 48); per-example routing is covered by Multitask/PolyTests and MultitaskPromptTuningTests.
        new("poly", "POLY", null, () => new PolyConfig { R = 2, NTasks = 2, NSkills = 3, NSplits = 2, DefaultTaskId = 1, TargetModules = Linears, Seed = 5 },
            () => new PolyConfig { R = 2, NTasks = 2, NSkills = 3, NSplits = 2, DefaultTaskId = 1, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        new("multitask_prompt", "MULTITASK_PROMPT_TUNING", null, () => new MultitaskPromptTuningConfig { NumVirtualTokens = 3, NumTasks = 2, NumRanks = 2, DefaultTaskId = 1, Seed = 5 },
            () => new MultitaskPromptTuningConfig { NumVirtualTokens = 3, NumTasks = 2, NumRanks = 2, DefaultTaskId = 1, Seed = 5 }),
        // OFT: PEFT's Neumann series at init (blocks of 4); the exact Cayley transform (the batched differentiable inverse)
        // when non-trivial. COFT has no row: its in-place projection before each forward is not differentiable as a
        // whole (OrthogonalTests covers it).
        new("oft", "OFT", null, () => new OftConfig { OftBlockSize = 4, TargetModules = Linears, Seed = 5 },
            () => new OftConfig { OftBlockSize = 4, UseCayleyNeumann = false, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        new("oft_share", "OFT", null, () => new OftConfig { R = 2, OftBlockSize = 0, BlockShare = true, TargetModules = Linears, Seed = 5 },
            () => new OftConfig { R = 2, OftBlockSize = 0, BlockShare = true, NumCayleyNeumannTerms = 3, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // BOFT: two butterfly factors of blocks of 4 at init; three factors of blocks of 2 when non-trivial.
        new("boft", "BOFT", null, () => new BoftConfig { BoftBlockSize = 4, BoftNButterflyFactor = 2, TargetModules = Linears, Seed = 5 },
            () => new BoftConfig { BoftBlockSize = 2, BoftNButterflyFactor = 3, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // Arrow (arrow_config) has no row: its router mixes the other LoRA adapters of each layer, which a one-config row
        // cannot give it; LowRank/ArrowTests covers the laws' substance (gradients, disable, delete, save/load, no merge).
        // Selective (PEFT part 2): LN tuning on every norm (PEFT's GPT-2 default ln_1, ln_2, ln_f); trainable tokens on
        // rows 1, 5, 9 of the embedding (all in Ids(); the head is tied, so it uses them too).
        new("ln_tuning", "LN_TUNING", null, () => new LnTuningConfig { Seed = 5 }, () => new LnTuningConfig { Seed = 5 }),
        new("trainable_tokens", "TRAINABLE_TOKENS", null, () => new TrainableTokensConfig { TokenIndices = [1, 5, 9], Seed = 5 },
            () => new TrainableTokensConfig { TokenIndices = [1, 5, 9], InitWeights = false, Seed = 5 }),
        // Adaption prompt on both attention layers; the gate starts at 0 (the base), the scrambling opens it. Not mergeable.
        new("adaption_prompt", "ADAPTION_PROMPT", null, () => new AdaptionPromptConfig { AdapterLen = 3, AdapterLayers = 2, Seed = 5 },
            () => new AdaptionPromptConfig { AdapterLen = 3, AdapterLayers = 2, Seed = 5 }),
        // Lily: A shared by pairs of layers, B by both layers of each target; not mergeable (the router's weights are a
        // batch average), which the registry says.
        new("lily", "LILY", null, () => new LilyConfig { R = 2, StrideA = 2, NumB = 2, TargetModules = Linears, Seed = 5 },
            () => new LilyConfig { R = 2, StrideA = 2, NumB = 3, Scaling = 0.5, InitWeights = false, TargetModules = Linears, Seed = 5 }),
        // X-LoRA with its LoRA experts created in place (fresh ones: the model starts at the base); non-trivial: random
        // experts, a layerwise depth-2 classifier and top-2 of 3. Only the classifier trains; not mergeable.
        new("xlora", "XLORA", null, () => new XLoraConfig { NewExperts = [Lora, Lora with { R = 3 }], Seed = 5 },
            () => new XLoraConfig
            {
                NewExperts = [Lora with { InitLoraWeights = LoraInit.Random }, Lora with { R = 3, InitLoraWeights = LoraInit.Random }, Lora with { InitLoraWeights = LoraInit.Random }],
                LayerwiseScalings = true, XloraDepth = 2, XloraSize = 6, TopKLora = 2, SoftmaxTemperature = 0.8, GlobalScalingWeight = 1.5, Seed = 5,
            }),
        // LoRA-MGPO: plain LoRA tensors (its perturbation of W0 lives only inside a training step, LoraMgpoTests).
        new("loramgpo", "LORAMGPO", null, () => new LoraMgpoConfig { R = 2, LoraAlpha = 4, TargetModules = Linears, Seed = 5 },
            () => new LoraMgpoConfig { R = 2, LoraAlpha = 4, Rho = 0.1, InitLoraWeights = false, TargetModules = Linears, Seed = 5 }),
        // B4M's PLP LoRA (issue 23): half of A's columns and of B's rows frozen; with orth the frozen halves of the
        // square attn.proj start orthogonal and non-zero, so it does not start at the base (the registry says so).
        new("plp_lora", "PLP_LORA", null, () => new PlpLoraConfig { R = 2, TargetModules = Linears, Seed = 5 },
            () => new PlpLoraConfig { R = 2, LoraAlpha = 4, TargetModules = Linears, Seed = 5 }),
        // Issue 17, FLoRA: a 2-mode Tucker core with uneven ranks; the NLP variants need r_in = r_out. Non-trivial: G drawn too,
        // or (variants) the scrambling moves E off zero.
        new("flora", "FLORA", null, () => new FloraConfig { R = [2, 3], Scale = 2, TargetModules = Linears, Seed = 5 },
            () => new FloraConfig { R = [2, 3], Scale = 2, InitWeights = "random", TargetModules = Linears, Seed = 5 }),
        new("flora-loralib", "FLORA", "flora-loralib", () => new FloraConfig { R = [2, 2], LoraAlpha = 4, InitWeights = "loralib", TargetModules = Linears, Seed = 5 },
            () => new FloraConfig { R = [2, 2], LoraAlpha = 4, InitWeights = "loralib", TargetModules = Linears, Seed = 5 }),
        new("flora-peft", "FLORA", "flora-peft", () => new FloraConfig { R = [2, 2], LoraAlpha = 4, InitWeights = "peft", TargetModules = Linears, Seed = 5 },
            () => new FloraConfig { R = [2, 2], LoraAlpha = 4, InitWeights = "peft", TargetModules = Linears, Seed = 5 }),
        // Issue 17, DiffoRA in its search phase (gates σ(g) scale each module's LoRA); the discretisation is covered by DifforaTests.
        new("diffora", "DIFFORA", null, () => new DifforaConfig { R = 2, LoraAlpha = 4, TargetModules = Linears, Seed = 5 },
            () => new DifforaConfig { R = 2, LoraAlpha = 4, GateInit = 0.7, InitLoraWeights = false, TargetModules = Linears, Seed = 5 }),
        // KIND (issue 17): the top components move out of the base (as PiSSA's), every example class 1 of 2 by
        // default_task_id; per-example routing, the all-gates oracle and transfer are in Kind/KindTests.
        new("kind", "KIND", null, () => new KindConfig { NLearngenes = 2, NTailors = 2, NClasses = 2, DefaultTaskId = 1, TargetModules = Linears, Seed = 5 },
            () => new KindConfig { NLearngenes = 2, NTailors = 2, NClasses = 2, DefaultTaskId = 1, TargetModules = Linears, Seed = 5 }, MovesBaseWeight: true),
        // DePT (issue 17): P before the input and c·A·B on the position embedding (a layer with no tensors of its own);
        // max_length 5 leaves the law model's later positions without an update (generation past s).
        new("dept", "PROMPT_TUNING_LORA", null, () => new DeptConfig { NumVirtualTokens = 3, R = 2, LoraAlpha = 4, MaxLength = 5, Seed = 5 },
            () => new DeptConfig { NumVirtualTokens = 3, R = 2, LoraAlpha = 4, MaxLength = 5, Seed = 5 }),
        // FlyLoRA (issue 17): B = 0 starts at the base, the scrambling makes it non-zero; the law model is in evaluation
        // mode, where the balance bias stays put, so the top-k masks are fixed and only B trains. Not mergeable (the
        // registry says so): the routing depends on the token. Non-trivial: |h + d| ranking, r = 6, k = 2 (5 of 16 inputs per row).
        new("flylora", "FLYLORA", null, () => new FlyLoraConfig { R = 4, TopK = 2, LoraAlpha = 8, TargetModules = Linears, Seed = 5 },
            () => new FlyLoraConfig { R = 6, TopK = 2, LoraAlpha = 6, TopkByMagnitude = true, TargetModules = Linears, Seed = 5 },
            GradientCheck: () => new FlyLoraConfig { R = 6, TopK = 2, LoraAlpha = 6, TopkByMagnitude = true, TargetModules = ["blocks.1.mlp.proj"], Seed = 5 }),
        // MoS (issue 17): two layers per module type; r - p = 2 <= (v - p) L = 2 draws every shared shard. Non-trivial: shards of a quarter vector.
        new("mos", "MOS", null, () => new MosConfig { R = 3, BudgetRank = 2, PrivateRank = 1, ShardsPerVector = 2, LoraAlpha = 6, TargetModules = Linears, Seed = 5 },
            () => new MosConfig { R = 4, BudgetRank = 3, PrivateRank = 1, ShardsPerVector = 4, LoraAlpha = 4, TargetModules = Linears, Seed = 5 }),
        // Issue 17, singular family. SVFit: 99% energy rule / a fixed r; CLIP-SVD: every singular value (4 divides every
        // k of the law model; a ratio that drops triplets is in Singular/SingularValueTests); SALT with X Y, then with
        // ρ = k/2 and its regulariser on; LoLDU with r = 3 of the LU pivots.
        new("svfit", "SVFIT", null, () => new SvfitConfig { TargetModules = Linears, Seed = 5 },
            () => new SvfitConfig { R = 3, TargetModules = Linears, Seed = 5 }),
        new("clip_svd", "CLIP_SVD", null, () => new ClipSvdConfig { TargetModules = Linears, Seed = 5 },
            () => new ClipSvdConfig { TargetModules = Linears, Seed = 5 }),
        new("salt", "SALT", null, () => new SaltConfig { Rank = 4, RLora = 2, TargetModules = Linears, Seed = 5 },
            () => new SaltConfig { RatioSalt = 0.5, RLora = 3, RegMultiplier = 0.01, TargetModules = Linears, Seed = 5 }),
        new("loldu", "LOLDU", null, () => new LolduConfig { Rank = 3, TargetModules = Linears, Seed = 5 },
            () => new LolduConfig { Rank = 3, LoraAlpha = 2, TargetModules = Linears, Seed = 5 }),
        // Growth (issue 17). IncreLoRA: non-trivial with the first layer's attention grown (rank 2 + 1 block) and a reserve
        // block (frozen lambda, trained a and b) on every target, so the laws cover grown blocks and reserves; growth is
        // scheduled far beyond the laws' steps. TriAdaptLoRA: non-trivial with two blocks (sizes 1, 3) on c_attn.
        new("increlora", "INCRELORA", null, () => IncreLora, () => IncreLora with
        {
            RankPattern = new Dictionary<string, int> { ["transformer.h.0.attn.c_attn"] = 3 },
            ReservePattern = new Dictionary<string, int> { ["transformer.h.0.attn.c_attn"] = 1, ["transformer.h.1.mlp.c_proj"] = 2 },
        }),
        new("triadaptlora", "TRIADAPTLORA", null, () => TriAdaptLora, () => TriAdaptLora with
        {
            BlockPattern = new Dictionary<string, int[]> { ["transformer.h.0.attn.c_attn"] = [1, 3], ["transformer.h.1.mlp.c_fc"] = [1, 2, 4] },
        }),
        // NOLA (issue 18): alpha = beta = 0 start at the base; the scrambling mixes the regenerated bases.
        new("nola", "NOLA", null, () => new NolaConfig { R = 2, LoraAlpha = 4, NolaNumBasis = 5, TargetModules = Linears, NolaSeed = 3, Seed = 5 },
            () => new NolaConfig { R = 3, LoraAlpha = 6, NolaNumBasis = 4, TargetModules = Linears, NolaSeed = 7, Seed = 5 }),
        // Compacter (issue 18): PHM bottlenecks of width 16 / 2 = 8 (n = 4 divides 16 and 8) after both sub-layer outputs,
        // the rules shared by the four adapters; not mergeable (non-linear), near but not at the base at the start.
        new("compacter", "COMPACTER", null, () => new CompacterConfig { ReductionFactor = 2, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 },
            () => new CompacterConfig { ReductionFactor = 2, PhmRank = 2, PhmCInit = "uniform", TargetModules = ["attn.proj", "mlp.proj"], ModulesToSave = ["ln1", "ln2"], Seed = 5 }),
        // SLTrain (issue 18). The paper's form replaces the weight (W0 and b0 unused, values and bias drawn): it does not
        // start at the base, which the registry says (StartsAtBase = false), so the init law skips it; merge writes
        // sBA + S and the adapter's bias, unmerge restores W0 and b0. δ = 0.05 gives 12 to 38 support entries on the law
        // model. The second row is the fine-tuning form over W0 (values 0: it starts at the base, SltrainTests checks that).
        new("sltrain", "SLTRAIN", null, () => new SltrainConfig { R = 2, LoraAlpha = 4, SpRatio = 0.05, TargetModules = Linears, Seed = 5 },
            () => new SltrainConfig { R = 3, LoraAlpha = 4, SpRatio = 0.05, TrainableScaling = true, TargetModules = Linears, Seed = 5 }),
        new("sltrain_additive", "SLTRAIN", null, () => new SltrainConfig { R = 2, LoraAlpha = 4, SpRatio = 0.05, ReplaceWeight = false, TargetModules = Linears, Seed = 5 },
            () => new SltrainConfig { R = 2, LoraAlpha = 4, SpRatio = 0.1, ReplaceWeight = false, TargetModules = Linears, Seed = 5 }),
        // Issue 18, PST: starts unpruned (s_i = 0, V = 0); non-trivial: a quarter of each weight pruned. In training the
        // mask's gradient is straight-through (by design not the derivative: ApproximateGradient); in evaluation mode
        // the mask is a constant and gradients are exact. Merging replaces the weight by M ⊙ W′; unmerge restores W0.
        new("pst", "PST", null, () => new PstConfig { WeightRank = 2, MaskRank = 3, TotalStep = 10, TargetModules = Linears, Seed = 5 },
            () => new PstConfig { WeightRank = 2, MaskRank = 3, InitialSparsity = 0.25, Sparsity = 0.5, TotalStep = 10, WeightBeta = 0.5, MaskAlpha2 = 2, TargetModules = Linears, Seed = 5 },
            ApproximateGradient: true),
        // SNELL (issue 18): the kernel starts non-zero (not at the base). Its gradient is the reference's, with the
        // magnitudes and the quantile threshold detached, which central differences of ΔW |ΔW| do not see: the gradient
        // law runs the dense kernel (τ = 0); the sparsified gradient is checked in SparseTuning/SnellTests.
        new("snell", "SNELL", null, () => new SnellConfig { LowRankDim = 4, InitThres = 0.8, TargetModules = Linears, Seed = 5 },
            () => new SnellConfig { LowRankDim = 4, InitThres = 0.5, SnellDropout = 0, TargetModules = Linears, Seed = 5 },
            GradientCheck: () => new SnellConfig { LowRankDim = 4, InitThres = 0, SnellDropout = 0, TargetModules = Linears, Seed = 5 }),
        // SPT (issue 18): the allocation runs on LawCases.Calibration's squared gradients; r = 1 and α = 10 leave a mix of
        // LoRA and sparse weights in the law model (a weight with nothing selected drops out). Starts at the base
        // (B = 0, values 0); the scrambling moves both.
        new("spt", "SPT", null, () => new SptConfig { LowRankDim = 1, Budget = 150, SweepStep = 5, TargetModules = Linears, Seed = 5 },
            () => new SptConfig { LowRankDim = 1, Budget = 150, SweepStep = 5, TargetModules = Linears, Seed = 5 }, Calibrated: true),
        // VL-Adapter and VL-PET (issue 18): not the base at init under the backbone's N(0, 0.02²) init (spec pitfall 6), so
        // the registry says StartsAtBase = false and the init=base law skips them; the rows' AtInit use VL-Adapter's
        // zero_up (the oracle "Up = 0 is the backbone" is VlAdapterTests). Not mergeable (non-linear): the merge law expects
        // the refusal. VL-PET's gates read the sublayer input x1 (SublayerInput), which the law GPT's blocks publish.
        new("vl_adapter", "VL_ADAPTER", null, () => new VlAdapterConfig { ZeroUp = true, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 },
            () => new VlAdapterConfig { InitStd = 0.3, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 }),
        new("vl_adapter_per_task", "VL_ADAPTER", null, () => new VlAdapterConfig { ZeroUp = true, UseSingleAdapter = false, NTasks = 3, DefaultTaskId = 1, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 },
            () => new VlAdapterConfig { InitStd = 0.3, UseSingleAdapter = false, NTasks = 3, DefaultTaskId = 1, TargetModules = ["attn.proj", "mlp.proj"], Seed = 5 }),
        new("vl_pet", "VL_PET", null, () => VlPet("large", 0.02), () => VlPet("large", 0.3)),
        new("vl_pet_middlex", "VL_PET", "vl_pet_middlex", () => VlPet("middleX", 0.02), () => VlPet("middleX", 0.3)),
        new("vl_pet_middley", "VL_PET", "vl_pet_middley", () => VlPet("middleY", 0.02), () => VlPet("middleY", 0.3)),
        new("vl_pet_small", "VL_PET", "vl_pet_small", () => VlPet("small", 0.02), () => VlPet("small", 0.3)),
        // Issue 18, ScaLearn: two frozen bottleneck sources created in place (non-trivial tensors: the method never starts at
        // the base, its sources are trained adapters) scaled by ω after each feed-forward output; dropout on ω off so the
        // training-mode laws are deterministic (its dropout is in Transfer/ScaLearnTests). Not mergeable.
        new("scalearn", "SCALEARN", null, () => ScaLearn(), () => ScaLearn()),
        new("scalearn-uniform", "SCALEARN", "scalearn-uniform", () => ScaLearn() with { OmegaShape = "scalar" }, () => ScaLearn() with { OmegaShape = "scalar" }),
        new("scalearn-plusplus", "SCALEARN", "scalearn-plusplus", () => ScaLearn() with { PerLayer = true }, () => ScaLearn() with { PerLayer = true }),
        new("scalearn-uniform-plusplus", "SCALEARN", "scalearn-uniform-plusplus", () => ScaLearn() with { OmegaShape = "scalar", PerLayer = true },
            () => ScaLearn() with { OmegaShape = "scalar", PerLayer = true }),
        // Issue 18, Polyhistor (the engine's reading): hypernetwork-generated bottlenecks on the sub-layer outputs, every
        // example task 1 of 2 (default_task_id); Lite with templates of width 4 scaled by Kronecker kernels to 16.
        // W_up's zero right factor starts at the base; non-trivial: init_weights false. Not mergeable.
        new("polyhistor", "POLYHISTOR", null, () => Polyhistor, () => Polyhistor with { InitWeights = false }),
        new("polyhistor-lite", "POLYHISTOR", "polyhistor-lite", () => Polyhistor with { TemplateSize = 4 }, () => Polyhistor with { TemplateSize = 4, InitWeights = false }),
    ];

    static VlPetConfig VlPet(string gate, double std) => new()
    {
        AdapterDownDim = 4, EncoderAdapterMultiheadNumHead = 2, AdapterGatingDownDim = 3, GateType = gate, InitStd = std,
        TargetModules = ["attn.proj", "mlp.proj"], Seed = 5,
    };

    /// <summary>The row named <paramref name="name"/>.</summary>
    public static LawCase Get(string name) => All.Single(c => c.Name == name);

    static TheoryData<string> Names(Func<LawCase, bool> where)
    {
        var data = new TheoryData<string>();
        foreach (var c in All.Where(where)) data.Add(c.Name);
        return data;
    }

    /// <summary>Every row, by name (theory data).</summary>
    public static TheoryData<string> Every => Names(_ => true);

    /// <summary>Rows whose method starts at the base model.</summary>
    public static TheoryData<string> StartingAtBase => Names(c => c.Has(AdapterCapabilities.StartsAtBase));

    /// <summary>Rows whose method Hugging Face PEFT ships (its files use PEFT's keys).</summary>
    public static TheoryData<string> InPeft => Names(c => c.Method.Attribute.InPeft);

    /// <summary>The law model: a GPT of width 16 with 2 layers, in evaluation mode; the same weights for the same seed.</summary>
    public static Gpt Base(ulong seed = 1) =>
        (Gpt)new Gpt(new GptConfig(13, 16, 16, 2, 2, MlpRatio: 2), new Generator(seed)).Eval();

    /// <summary>Token ids [2, 5] (with the virtual tokens, within the context of 16).</summary>
    public static Tensor Ids() => Tensor.FromArray(new long[,] { { 1, 5, 2, 9, 3 }, { 4, 4, 0, 12, 7 } });

    /// <summary>The model's output on <see cref="Ids"/>, outside autograd.</summary>
    public static double[] Outputs(Module model)
    {
        using (Autograd.Autograd.NoGrad()) return model.Forward(Ids()).ToDoubleArray();
    }

    /// <summary>
    /// Adds seeded noise N(0, <paramref name="std"/>) to every trainable tensor of <paramref name="peft"/> (every
    /// adapter tensor that trains, model parts included), so no adapter stays at its initial, often trivial, values.
    /// </summary>
    public static void Scramble(PeftModel peft, ulong seed = 11, double std = 0.1)
    {
        var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).DistinctBy(p => p.Parameter, ReferenceEqualityComparer.Instance).ToList();
        Assert.NotEmpty(trainable);
        using var _ = Autograd.Autograd.NoGrad();
        ulong k = 0;
        foreach (var (_, t) in trainable)
            t.CopyFrom(t.Detach() + Tensor.Randn(t.Shape, 0, std, t.DType, new Generator(seed * 1000 + k++)));
    }

    /// <summary>
    /// The data of a calibrated row (<see cref="LawCase.Calibrated"/>) on <paramref name="model"/>, or null for other rows:
    /// two batches of the law ids, with the mean squared logit as the loss (any smooth function of the outputs serves).
    /// </summary>
    public static CalibrationData? Calibration(LawCase c, Gpt model) => c.Calibrated
        ? new CalibrationData(2, i => { var y = model.Forward(i == 0 ? Ids() : Ids().Flip(1)); return (y * y).Mean(); })
        : null;

    /// <summary>Adds the row's <paramref name="config"/> to <paramref name="model"/> as a new adapted model, with calibration data where the row needs it.</summary>
    public static PeftModel<Gpt> Apply(LawCase c, Gpt model, PeftConfig config, string adapterName = "default") =>
        Peft.Apply(model, config, adapterName, calibration: Calibration(c, model));

    /// <summary>The row's non-trivial adapter on <paramref name="model"/> (a fresh law model by default), scrambled.</summary>
    public static PeftModel<Gpt> NonTrivial(LawCase c, Gpt? model = null, string adapterName = "default", ulong seed = 11)
    {
        model ??= Base();
        var peft = Apply(c, model, c.NonTrivial(), adapterName);
        Scramble(peft, seed);
        return peft;
    }

    /// <summary>Every parameter and buffer of <paramref name="model"/> by name, as bit patterns (for bit-identical comparisons).</summary>
    public static Dictionary<string, long[]> Bits(Module model) => Bits(model.StateDict());

    /// <summary>The bit patterns of each tensor (Float32 widens to Float64 exactly).</summary>
    public static Dictionary<string, long[]> Bits(IReadOnlyDictionary<string, Tensor> state) =>
        state.ToDictionary(kv => kv.Key, kv => kv.Value.To(Device.Cpu).ToDoubleArray().Select(BitConverter.DoubleToInt64Bits).ToArray());

    /// <summary>Same keys and bit-identical values; the message names the first tensor that differs.</summary>
    public static void AssertBitIdentical(Dictionary<string, long[]> expected, Dictionary<string, long[]> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, bits) in expected)
            Assert.True(bits.AsSpan().SequenceEqual(actual[key]), $"{what}: '{key}' is not bit-identical");
    }

    /// <summary>The largest absolute difference of two outputs.</summary>
    public static double MaxDifference(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
    }

    /// <summary>A scratch folder under the temp directory, unique per call.</summary>
    public static string TempFolder() => Directory.CreateTempSubdirectory("engine-peft-laws-").FullName;
}

/// <summary>The rows themselves: every registered method and variant has one, and each non-trivial adapter changes the model.</summary>
public class LawCaseTests
{
    [Fact]
    public void EveryRegisteredMethodAndVariant_HasACaseRow()
    {
        var missing = new List<string>();
        foreach (var method in PeftRegistry.Methods)
        {
            if (!LawCases.All.Any(c => c.PeftType == method.PeftType && c.Variant is null)) missing.Add(method.PeftType);
            foreach (var (variant, _) in method.Variants)
                if (!LawCases.All.Any(c => c.PeftType == method.PeftType && c.Variant == variant)) missing.Add($"{method.PeftType} variant '{variant}'");
        }
        Assert.True(missing.Count == 0, $"no law case row for: {string.Join(", ", missing)}; add one to LawCases.All");
    }

    [Fact]
    public void EveryCaseRow_NamesARegisteredMethodWithItsConfig()
    {
        foreach (var c in LawCases.All)
        {
            Assert.Equal(c.Method.ConfigType, c.AtInit().GetType());
            Assert.Equal(c.Method.ConfigType, c.NonTrivial().GetType());
            if (c.Variant is not null) Assert.Contains(c.Method.Variants, v => v.Name == c.Variant);
        }
    }

    [Theory]
    [MemberData(nameof(LawCases.Every), MemberType = typeof(LawCases))]
    public void NonTrivialAdapter_ChangesTheOutput(string name)
    {
        var c = LawCases.Get(name);
        var baseOutput = LawCases.Outputs(LawCases.Base());
        var peft = LawCases.NonTrivial(c);
        Assert.True(LawCases.MaxDifference(baseOutput, LawCases.Outputs(peft)) > 1e-3, $"{name}: the scrambled adapter leaves the output (nearly) unchanged");
    }
}

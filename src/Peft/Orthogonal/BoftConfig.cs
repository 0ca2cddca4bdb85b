namespace Engine.Peft.Orthogonal;

/// <summary>
/// BOFT (Liu et al. 2024, "Parameter-Efficient Orthogonal Finetuning via Butterfly Factorization"; PEFT's
/// <c>BOFTConfig</c>): the input is multiplied by M = M_m ⋯ M_1 M_0, each factor M_k = P_k BD_k P_kᵀ a block-diagonal
/// matrix of exact Cayley rotations between butterfly permutations (<see cref="BoftButterfly"/>), and the output is
/// scaled per feature: y = s ⊙ ((x M) Wᵀ) + b. Keys <c>boft_R</c> [m+1, D, b, b] and <c>boft_s</c> [out, 1].
/// PEFT's field names and defaults (boft_block_size 4, boft_block_num 0: exactly one non-zero; factor 1).
/// Without its CUDA extension PEFT silently uses factor 1, so a PEFT file's boft_R may have one factor whatever its
/// config says: the engine reads the number of factors from the file's shape when loading (spec H).
/// Spec section B; PEFT's <c>boft/config.py</c>, <c>boft/layer.py</c>.
/// <code>var peft = Peft.Apply(gpt, new BoftConfig { BoftBlockSize = 4, BoftNButterflyFactor = 2, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("BOFT", Layer = typeof(BoftLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record BoftConfig : PeftConfig, IBiasConfig
{
    /// <summary>The block size b (0: from <see cref="BoftBlockNum"/>).</summary>
    public int BoftBlockSize { get; init; } = 4;

    /// <summary>The number of blocks D (0: from <see cref="BoftBlockSize"/>).</summary>
    public int BoftBlockNum { get; init; }

    /// <summary>The number of butterfly factors m + 1 (1: one block-diagonal rotation, OFT with exact Cayley).</summary>
    public int BoftNButterflyFactor { get; init; } = 1;

    /// <summary>In training, a random factor has this fraction of its blocks replaced by the identity (PEFT's multiplicative dropout).</summary>
    public double BoftDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D); the engine's layers are [out, in].</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "boft_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: R = 0 and s = 1, so the model starts at the base; false: R ~ N(0, 0.1²), s ~ N(1, 0.1²) (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (BoftBlockSize < 0 || BoftBlockNum < 0)
            throw new ArgumentException($"BoftConfig: boft_block_size and boft_block_num must not be negative, got {BoftBlockSize} and {BoftBlockNum}");
        if ((BoftBlockSize != 0) == (BoftBlockNum != 0))
            throw new ArgumentException($"BoftConfig: set exactly one of boft_block_size ({BoftBlockSize}) and boft_block_num ({BoftBlockNum}), since boft_block_size x boft_block_num = in_features");
        if (BoftNButterflyFactor < 1) throw new ArgumentException($"BoftConfig: boft_n_butterfly_factor must be a positive integer, got {BoftNButterflyFactor}");
        if (!(BoftDropout >= 0 && BoftDropout < 1)) throw new ArgumentException($"BoftConfig: boft_dropout must be in [0, 1), got {BoftDropout}");
        TrainedBiases.Validate("BoftConfig", Bias);
    }

    /// <summary>
    /// The block size b and count D for input width <paramref name="inFeatures"/> with <paramref name="m"/> + 1 factors,
    /// checked as PEFT's <c>update_layer</c> checks them.
    /// </summary>
    /// <exception cref="ArgumentException">The width, sizes and factor do not fit together (the message says which).</exception>
    public (int BlockSize, int BlockNum) BlocksFor(int inFeatures, int m)
    {
        int b, d;
        if (BoftBlockSize == 0)
        {
            d = BoftBlockNum;
            if (inFeatures % d != 0) throw new ArgumentException($"BoftConfig: in_features ({inFeatures}) must be divisible by boft_block_num ({d})");
            if (m > 0 && (m > (int)Math.Log2(d) || d % (1 << m) != 0))
                throw new ArgumentException($"BoftConfig: boft_block_num ({d}) must be a multiple of 2^(boft_n_butterfly_factor - 1) = {1 << m}");
            b = inFeatures / d;
        }
        else
        {
            b = BoftBlockSize;
            if (inFeatures % b != 0) throw new ArgumentException($"BoftConfig: in_features ({inFeatures}) must be divisible by boft_block_size ({b})");
            if (m > 0 && inFeatures % (b * (1 << m)) != 0)
                throw new ArgumentException($"BoftConfig: in_features ({inFeatures}) must be a multiple of boft_block_size x 2^(boft_n_butterfly_factor - 1) = {b * (1 << m)}");
            d = inFeatures / b;
        }
        if (m > 0 && d % 2 != 0) throw new ArgumentException($"BoftConfig: the number of blocks ({d}) must be even with more than one butterfly factor");
        if (m > 0 && b % 2 != 0) throw new ArgumentException($"BoftConfig: the block size ({b}) must be even with more than one butterfly factor");
        return (b, d);
    }

    /// <summary>The zoo's BOFT: blocks of the preset's size, two butterfly factors, every block projection.</summary>
    public static BoftConfig Preset(AdapterPreset p) => new() { BoftBlockSize = p.Size, BoftNButterflyFactor = 2, TargetModules = p.Linears, Seed = p.Seed };
}

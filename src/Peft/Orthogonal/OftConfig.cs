namespace Engine.Peft.Orthogonal;

/// <summary>
/// OFT (Qiu et al. 2023, "Controlling Text-to-Image Diffusion by Orthogonal Finetuning"; PEFT's <c>OFTConfig</c>, the
/// format since PEFT 0.14): the input of each adapted Linear is rotated block by block, x_i ← x_i R_i, so W' = W R_bdᵀ
/// with R_bd = blockdiag(R_1 … R_nb). Each R_i comes from a skew block Q_i stored as its strict upper triangle
/// (<c>oft_R.weight</c> [nb, b(b-1)/2]), by PEFT's default Cayley–Neumann series (5 terms) or the exact Cayley
/// transform. PEFT's field names and defaults (r 0, oft_block_size 32: exactly one of them non-zero; eps 6e-5).
/// Spec section B; PEFT's <c>oft/config.py</c>, <c>oft/layer.py</c>.
/// <code>var peft = Peft.Apply(gpt, new OftConfig { OftBlockSize = 8, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("OFT", Layer = typeof(OftLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1)]
public sealed record OftConfig : PeftConfig, IBiasConfig, IFileFormReader
{
    /// <summary>The number of blocks per layer (0: from <see cref="OftBlockSize"/>). Adjusted to the nearest divisor of the input width.</summary>
    public int R { get; init; }

    /// <summary>The block size b (0: from <see cref="R"/>). Adjusted to the nearest divisor of the input width, as PEFT does.</summary>
    public int OftBlockSize { get; init; } = 32;

    /// <summary>PEFT builds a block dropout with this probability but its Linear forward never applies it; the engine does the same.</summary>
    public double ModuleDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D); the engine's layers are [out, in].</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "oft_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>Constrained OFT: before each forward, each Q_i is projected in place to ‖Q_i‖_F ≤ eps / √(rows of oft_R).</summary>
    public bool Coft { get; init; }

    /// <summary>COFT's radius (only used with <see cref="Coft"/>).</summary>
    public double Eps { get; init; } = 6e-5;

    /// <summary>One block R shared by all blocks of a layer (<c>oft_R.weight</c> [1, b(b-1)/2]).</summary>
    public bool BlockShare { get; init; }

    /// <summary>True (PEFT's default): R is the truncated Cayley–Neumann series; false: the exact Cayley transform (orthogonal).</summary>
    public bool UseCayleyNeumann { get; init; } = true;

    /// <summary>Terms of the Neumann series (5: I + 2Q + 2Q² + 2Q³ + Q⁴).</summary>
    public int NumCayleyNeumannTerms { get; init; } = 5;

    /// <summary>True: Q = 0, so R = I and the model starts at the base; false: Q ~ N(0, 0.1²) (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 0 || OftBlockSize < 0) throw new ArgumentException($"OftConfig: r and oft_block_size must not be negative, got r = {R}, oft_block_size = {OftBlockSize}");
        if (R == 0 && OftBlockSize == 0) throw new ArgumentException("OftConfig: either r or oft_block_size must be non-zero, both are 0");
        if (R != 0 && OftBlockSize != 0)
            throw new ArgumentException($"OftConfig: set exactly one of r ({R}) and oft_block_size ({OftBlockSize}), since r x oft_block_size = in_features. " +
                "(An adapter_config.json without oft_block_size is an OFT adapter from PEFT before 0.14, whose weights (oft_r) are incompatible; retrain it with PEFT >= 0.14.)");
        if (!(ModuleDropout >= 0 && ModuleDropout < 1)) throw new ArgumentException($"OftConfig: module_dropout must be in [0, 1), got {ModuleDropout}");
        TrainedBiases.Validate("OftConfig", Bias);
        if (Coft && !(Eps > 0 && double.IsFinite(Eps))) throw new ArgumentException($"OftConfig: eps must be positive and finite with coft, got {Eps}");
        if (UseCayleyNeumann && NumCayleyNeumannTerms < 1) throw new ArgumentException($"OftConfig: num_cayley_neumann_terms must be positive, got {NumCayleyNeumannTerms}");
    }

    /// <summary>
    /// The block size for an input width <paramref name="inFeatures"/> (PEFT's <c>update_layer</c>): from
    /// oft_block_size or r, adjusted to the nearest divisor of the width when it does not divide it.
    /// </summary>
    public int BlockSizeFor(int inFeatures)
    {
        if (R == 0)
        {
            int b = OftBlockSize;
            return inFeatures % b != 0 || b > inFeatures ? NearestDivisor(inFeatures, b) : b;
        }
        int r = R;
        if (inFeatures % r != 0 || r > inFeatures) r = NearestDivisor(inFeatures, r);
        return inFeatures / r;
    }

    /// <summary>
    /// PEFT's <c>adjust_oft_parameters</c>: the divisor of <paramref name="width"/> nearest <paramref name="value"/>
    /// (the lower one on a tie); the width itself when the value exceeds it.
    /// </summary>
    public static int NearestDivisor(int width, int value)
    {
        if (value >= width) return width;
        int higher = value;
        while (higher <= width && width % higher != 0) higher++;
        int lower = value;
        while (lower > 1 && width % lower != 0) lower--;
        return value - lower <= higher - value ? lower : higher;
    }

    /// <summary>Refuses files of the OFT before PEFT 0.14 (keys <c>oft_r</c> [r, b, b]), whose parametrisation differs: they cannot be converted.</summary>
    /// <exception cref="InvalidDataException">The file holds an <c>oft_r</c> key.</exception>
    public IReadOnlyList<PlannedTensor> FileForm(IReadOnlyList<PlannedTensor> plan, IReadOnlySet<string> fileKeys)
    {
        var old = fileKeys.FirstOrDefault(k => k.EndsWith(".oft_r", StringComparison.Ordinal) || k.Contains(".oft_r.", StringComparison.Ordinal));
        if (old is not null)
            throw new InvalidDataException($"OFT: '{old}' is a weight of the OFT of PEFT before 0.14 (oft_r), which PEFT itself no longer loads: " +
                "its weights are incompatible with the current OFT (oft_R.weight); retrain the adapter with PEFT >= 0.14");
        return plan;
    }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> FromFileForm(Dictionary<string, Tensor> file, IReadOnlyList<PlannedTensor> plan) => file;

    /// <summary>The zoo's OFT: blocks of the preset's size (adjusted to a divisor), PEFT's Neumann series, every block projection.</summary>
    public static OftConfig Preset(AdapterPreset p) => new() { OftBlockSize = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}

namespace Engine.Peft.Spectral;

/// <summary>
/// The fields FourierFT and WaveFT share (PEFT's <c>FourierFTConfig</c>, <c>WaveFTConfig</c>): n trainable
/// coefficients per layer (n_frequency, per module through n_frequency_pattern) at positions drawn from
/// random_loc_seed (<see cref="SparseSpectrumPositions"/>), scaled by scaling. Each method sets its own defaults.
/// </summary>
public abstract record SparseSpectrumConfig : PeftConfig, IBiasConfig
{
    /// <summary>Trainable coefficients per adapted layer (at most in·out).</summary>
    public abstract int NFrequency { get; init; }

    /// <summary>The update is scaled by this.</summary>
    public abstract double Scaling { get; init; }

    /// <summary>True: the coefficients start at zero (the model starts at the base); false: random.</summary>
    public abstract bool InitWeights { get; init; }

    /// <summary>Seed of torch's generator that draws the coefficient positions (PEFT saves only this).</summary>
    public ulong RandomLocSeed { get; init; } = 777;

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>Per-module n_frequency: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> NFrequencyPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>The n_frequency of the module at <paramref name="path"/> (<see cref="NFrequencyPattern"/> first).</summary>
    public int NFrequencyFor(ModulePath path) => TargetMatcher.FindPattern(NFrequencyPattern, path) ?? NFrequency;

    /// <summary>
    /// <see cref="NFrequencyFor"/> for a layer of <paramref name="outFeatures"/> × <paramref name="inFeatures"/>, which
    /// holds at most in·out coefficients (checked when the layer is planned, so a file's config is refused before
    /// anything is allocated).
    /// </summary>
    public int CoefficientsFor(ModulePath path, int outFeatures, int inFeatures)
    {
        int n = NFrequencyFor(path);
        long cells = (long)outFeatures * inFeatures;
        if (n < 1 || n > cells)
            throw new ArgumentException($"{GetType().Name}: n_frequency must be in [1, in·out = {cells}] at '{path.External}', got {n}");
        return n;
    }

    /// <inheritdoc/>
    public override void Validate()
    {
        var me = GetType().Name;
        if (NFrequency < 1) throw new ArgumentException($"{me}: n_frequency must be positive, got {NFrequency}");
        foreach (var (key, n) in NFrequencyPattern ?? new Dictionary<string, int>())
            if (n < 1) throw new ArgumentException($"{me}: n_frequency_pattern['{key}'] must be positive, got {n}");
        RequireFiniteInFloat32("scaling", Scaling);
        TrainedBiases.Validate(me, Bias);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((NFrequencyPattern?.Keys ?? []).Select(k => ("n_frequency_pattern", k)));
}

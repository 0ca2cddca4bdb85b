namespace Engine.Nn;

/// <summary>
/// One-call builders of GPTs with shared parameters, for training from scratch (the comparison of MASA and STABLE-RPS
/// at equal parameter count): a GPT-2-initialised <see cref="Gpt"/> converted in place.
/// <code>
/// var (masa, _) = SharedGpt.Masa(config, atoms: 2, new Generator(1));
/// var (rps, sharing) = SharedGpt.Rps(config, SharedGpt.KeptFractionFor(config, masa.ParameterCount()), new Generator(1));
/// // per step: loss.Backward(); sharing.ScaleGradients(); optimizer.Step();
/// </code>
/// </summary>
public static class SharedGpt
{
    /// <summary>A MASA GPT (<see cref="Nn.Masa"/>, <see cref="MasaInit.Scratch"/>) with <paramref name="atoms"/> atoms per projection type.</summary>
    public static (Gpt Model, IReadOnlyList<MasaType> Types) Masa(GptConfig config, int atoms, Generator generator, bool includeMlp = false)
    {
        var model = new Gpt(config, generator);
        var types = Nn.Masa.Apply(model, atoms, MasaInit.Scratch, includeMlp, generator);
        return (model, types);
    }

    /// <summary>
    /// A STABLE-RPS GPT (<see cref="StableRps"/>, uniform memory, layer scales from the GPT-2 initialisation). Call
    /// <see cref="StableRps.ScaleGradients"/> between backward and the optimiser step.
    /// </summary>
    public static (Gpt Model, StableRps Rps) Rps(GptConfig config, double keptFraction, Generator generator, RpsMapper mapper = RpsMapper.RandomFold, ulong seed = 2023)
    {
        var model = new Gpt(config, generator);
        var rps = StableRps.Apply(model, new RpsSettings(keptFraction, mapper, seed), generator);
        return (model, rps);
    }

    /// <summary>
    /// The kept fraction c for which <see cref="Rps"/> of <paramref name="config"/> has <paramref name="parameters"/>
    /// parameters in all (the dense rest plus m = ⌊c·n⌋ memory cells).
    /// </summary>
    /// <exception cref="ArgumentException">The budget does not exceed the dense rest.</exception>
    public static double KeptFractionFor(GptConfig config, long parameters)
    {
        Gpt model;
        using (Init.Skip()) model = new Gpt(config);
        long n = GptLinears.Of(model).Sum(t => t.Linear.Weight.Numel);
        long rest = model.ParameterCount() - n;
        long m = parameters - rest;
        if (m < 1) throw new ArgumentException($"SharedGpt.KeptFractionFor: {parameters} parameters leave no memory after the {rest} dense ones");
        // Halfway into the cell so that ⌊c·n⌋ = m despite rounding.
        return (m + 0.5) / n;
    }
}

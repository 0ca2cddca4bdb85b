using System.Globalization;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// Everything needed to resume training exactly where it stopped, in one safetensors file: model parameters
/// (<c>model.*</c>), optimiser state (<c>optim.*</c>), and in the metadata the step, the generators' (seed, offset)
/// pairs and any caller values (configuration, vocabulary). A schedule is a pure function of the step, so the step
/// restores it. Resuming reproduces the uninterrupted run bit for bit.
/// </summary>
public sealed class TrainingCheckpoint
{
    const string ModelPrefix = "model.", OptimizerPrefix = "optim.", GeneratorPrefix = "generator.";

    /// <summary>Metadata key of the tied names: a JSON object alias → stored name (<see cref="Module.TensorAliases"/>).</summary>
    public const string TiedKey = "tied_parameters";

    /// <summary>Step count at which the checkpoint was taken.</summary>
    public long Step { get; init; }

    /// <summary>Caller values saved alongside (configuration, vocabulary, ...).</summary>
    public IReadOnlyDictionary<string, string> Values { get; init; } = new Dictionary<string, string>();

    /// <summary>Writes the checkpoint atomically (a failed save leaves any previous file intact).</summary>
    public static void Save(string path, Module model, Optimizer? optimizer, long step,
        IReadOnlyDictionary<string, Generator>? generators = null, IReadOnlyDictionary<string, string>? values = null)
    {
        var tensors = new Dictionary<string, Tensor>();
        // A tied tensor is written once, under its first name; the other names are listed in the metadata.
        var aliases = model.TensorAliases();
        foreach (var (name, t) in model.StateDict())
            if (!aliases.ContainsKey(name)) tensors[ModelPrefix + name] = t;
        if (optimizer is not null)
            foreach (var (name, t) in optimizer.StateDict()) tensors[OptimizerPrefix + name] = t;
        var metadata = new Dictionary<string, string> { ["step"] = step.ToString(CultureInfo.InvariantCulture) };
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
            metadata[GeneratorPrefix + name] = $"{g.Seed},{g.Offset}";
        foreach (var (key, value) in values ?? new Dictionary<string, string>())
        {
            if (key == "step" || key == TiedKey || key.StartsWith(GeneratorPrefix))
                throw new ArgumentException($"TrainingCheckpoint: value name '{key}' is reserved");
            metadata[key] = value;
        }
        if (aliases.Count > 0) metadata[TiedKey] = System.Text.Json.JsonSerializer.Serialize(aliases);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        Safetensors.Save(path, tensors, metadata);
    }

    /// <summary>Reads only the metadata (step and values), e.g. to rebuild the model before <see cref="Restore"/>.</summary>
    public static TrainingCheckpoint ReadInfo(string path)
    {
        using var file = Safetensors.Open(path);
        return FromMetadata(path, file.Metadata);
    }

    /// <summary>
    /// Loads parameters into <paramref name="model"/> (strictly), optimiser state into <paramref name="optimizer"/>, and
    /// generator positions into the given generators; returns the step and values.
    /// </summary>
    public static TrainingCheckpoint Restore(string path, Module model, Optimizer? optimizer = null, IReadOnlyDictionary<string, Generator>? generators = null)
    {
        using var file = Safetensors.Open(path);
        // Everything is parsed and checked before the model, optimiser or generators change.
        var checkpoint = FromMetadata(path, file.Metadata);
        var positions = new List<(Generator Generator, ulong Seed, ulong Offset)>();
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
        {
            string field = GeneratorPrefix + name;
            if (!file.Metadata.TryGetValue(field, out var state))
                throw new InvalidDataException($"TrainingCheckpoint: '{path}' has no state for generator '{name}' (metadata '{field}')");
            var parts = state.Split(',');
            if (parts.Length != 2
                || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed)
                || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong offset))
                throw new InvalidDataException($"TrainingCheckpoint: '{path}' metadata '{field}' is \"{state}\"; expected \"seed,offset\" as two unsigned integers");
            positions.Add((g, seed, offset));
        }
        var modelState = new Dictionary<string, Tensor>();
        var optimizerState = new Dictionary<string, Tensor>();
        foreach (var name in file.Names)
        {
            if (name.StartsWith(ModelPrefix)) modelState[name[ModelPrefix.Length..]] = file.Read(name);
            else if (name.StartsWith(OptimizerPrefix)) optimizerState[name[OptimizerPrefix.Length..]] = file.Read(name);
        }
        if (file.Metadata.TryGetValue(TiedKey, out var tiedJson))
        {
            Dictionary<string, string>? tied;
            try { tied = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(tiedJson); }
            catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"TrainingCheckpoint: '{path}' metadata '{TiedKey}' is not a JSON object of names ({e.Message})", e); }
            foreach (var (alias, stored) in tied ?? [])
            {
                if (!modelState.TryGetValue(stored, out var tensor))
                    throw new InvalidDataException($"TrainingCheckpoint: '{path}' metadata '{TiedKey}' ties '{alias}' to '{stored}', which the file does not hold");
                modelState[alias] = tensor;
            }
        }
        if (optimizer is not null && optimizerState.Count == 0)
            throw new InvalidDataException($"TrainingCheckpoint: '{path}' holds no optimiser state");
        model.LoadStateDict(modelState, strict: true);
        if (optimizer is not null)
        {
            try
            {
                optimizer.LoadStateDict(optimizerState);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"TrainingCheckpoint: '{path}' optimiser state ('{OptimizerPrefix}*'): {e.Message}", e);
            }
        }
        foreach (var (g, seed, offset) in positions)
        {
            g.ManualSeed(seed);
            g.Offset = offset;
        }
        return checkpoint;
    }

    static TrainingCheckpoint FromMetadata(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("step", out var step) || !long.TryParse(step, CultureInfo.InvariantCulture, out long s))
            throw new InvalidDataException($"TrainingCheckpoint: '{path}' is not a training checkpoint (no 'step' in its metadata)");
        return new TrainingCheckpoint
        {
            Step = s,
            Values = metadata.Where(kv => kv.Key != "step" && kv.Key != TiedKey && !kv.Key.StartsWith(GeneratorPrefix)).ToDictionary(kv => kv.Key, kv => kv.Value),
        };
    }
}

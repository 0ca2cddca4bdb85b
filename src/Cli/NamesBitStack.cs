using System.Text.Json;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Nn.Compression;

namespace Engine.Cli;

/// <summary>
/// BitStack on a names model of <c>engine train</c> (spec adapters-other.md §17): every block Linear (qkv, o, fc, proj;
/// <see cref="GptLinears"/>) is decomposed, the block-addition order is measured by the calibration loss on training
/// windows, and the file keeps the model's configuration and vocabulary so <c>engine sample --memory-budget</c> can
/// rebuild it at any size. The tied head is the token embedding and stays dense, as the reference leaves embeddings
/// and <c>lm_head</c> alone.
/// </summary>
static class NamesBitStack
{
    /// <summary>Sequences per calibration batch.</summary>
    public const int CalibrationBatch = 32;

    /// <summary>Decomposes, orders and saves; one line per weight and a summary go to <paramref name="log"/>.</summary>
    public static void Compress(Gpt model, CharTokenizer tokenizer, NamesCorpus corpus, int blocks, int rank, int calibrationBatches, ulong seed, string outPath, TextWriter log)
    {
        model.Eval();
        var entries = WeightNames(model);
        var weights = entries.Select(e => BitStackDecomposition.Decompose(e.Name, e.Weight, blocks, rank)).ToList();
        foreach (var w in weights)
            log.WriteLine(FormattableString.Invariant($"{w.Name} [{w.Rows}, {w.Cols}] rank {w.Blocks[0].Rank}: ‖R_n‖/‖W‖ = {w.ResidualNorms[^1] / w.ResidualNorms[0]:F4} after {blocks} blocks, {w.BytesPerBlock} bytes per block"));

        var aliases = model.TensorAliases();
        var compressed = weights.Select(w => w.Name).ToHashSet();
        var dense = model.StateDict().Where(kv => !aliases.ContainsKey(kv.Key) && !compressed.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        long baseBytes = dense.Values.Sum(t => t.Numel * 4);

        // Σ_{i≤b} Ŵ_i for every b, so that trying a configuration is a copy per changed weight.
        var prefixes = weights.Select(Prefixes).ToList();
        var generator = new Generator(seed + 2);
        var calibration = Enumerable.Range(0, calibrationBatches).Select(_ => corpus.Batch(CalibrationBatch, model.Config.ContextLength, generator)).ToList();
        var current = new int[weights.Count];
        double LossOf(int[] counts)
        {
            using var _ = Autograd.Autograd.NoGrad();
            for (int l = 0; l < counts.Length; l++)
                if (current[l] != counts[l])
                {
                    entries[l].Weight.CopyFrom(prefixes[l][counts[l] - 1]);
                    current[l] = counts[l];
                }
            return calibration.Average(b => Losses.CrossEntropy(model.Forward(b.Inputs), b.Targets).Item());
        }
        var plan = BitStackPlan.Build(weights.Select(w => w.BytesPerBlock).ToArray(), blocks, baseBytes, LossOf);

        var values = NamesModelFile.Values(model.Config, tokenizer);
        if (aliases.Count > 0) values[TrainingCheckpoint.TiedKey] = JsonSerializer.Serialize(aliases);
        BitStackFile.Save(outPath, weights, plan, dense, values);
        long original = model.StateDict().Where(kv => !aliases.ContainsKey(kv.Key)).Sum(kv => kv.Value.Numel * 4);
        log.WriteLine($"wrote '{outPath}': {weights.Count} weights × {blocks} blocks; {MemorySize.Kb(plan.CumulativeBytes[0])} KB (1 block each) to "
            + $"{MemorySize.Kb(plan.CumulativeBytes[^1])} KB (all), the Float32 model is {MemorySize.Kb(original)} KB");
    }

    /// <summary>The model of a BitStack file at the largest configuration under <paramref name="budgetBytes"/> (all blocks when null).</summary>
    public static (Gpt Model, CharTokenizer Tokenizer, BitStackFile.Loaded Loaded) Load(string path, long? budgetBytes, string budgetText = "")
    {
        BitStackFile.Loaded loaded;
        try { loaded = BitStackFile.Load(path, budgetBytes); }
        catch (ArgumentException e) when (budgetBytes is not null) { throw new ArgumentException($"--memory-budget {budgetText}: {e.Message}", e); }
        return Build(path, loaded);
    }

    /// <summary>The model after the first <paramref name="steps"/> block additions of the saved order.</summary>
    public static (Gpt Model, CharTokenizer Tokenizer, BitStackFile.Loaded Loaded) LoadSteps(string path, int steps) => Build(path, BitStackFile.LoadSteps(path, steps));

    static (Gpt, CharTokenizer, BitStackFile.Loaded) Build(string path, BitStackFile.Loaded loaded)
    {
        if (!loaded.Values.TryGetValue(NamesModelFile.ConfigKey, out var json) || !loaded.Values.TryGetValue(NamesModelFile.VocabularyKey, out var vocabulary))
            throw new InvalidDataException($"'{path}' is a BitStack file but not one of a names model (no {NamesModelFile.ConfigKey}/{NamesModelFile.VocabularyKey} in its metadata)");
        var model = new Gpt(NamesModelFile.ReadConfig(path, json));
        var state = loaded.State;
        if (loaded.Values.TryGetValue(TrainingCheckpoint.TiedKey, out var tied))
            foreach (var (alias, stored) in JsonSerializer.Deserialize<Dictionary<string, string>>(tied) ?? [])
                state[alias] = state.TryGetValue(stored, out var t) ? t : throw new InvalidDataException($"'{path}': tied '{alias}' names '{stored}', which the file does not hold");
        try { model.LoadStateDict(state, strict: true); }
        catch (ArgumentException e) { throw new InvalidDataException($"'{path}': its tensors do not fit its {NamesModelFile.ConfigKey} ({e.Message})", e); }
        model.Eval();
        return (model, CharTokenizer.Deserialize(vocabulary), loaded);
    }

    /// <summary>
    /// Validation loss at 10%, 20%, ..., 100% of all blocks (weights × n): the configuration after
    /// round(f·weights·n) − weights additions of the saved order (at least one block per weight, so the first rows
    /// may coincide), each rebuilt from the file.
    /// </summary>
    public static void Report(string path, NamesCorpus corpus, double originalLoss, long originalBytes, TextWriter log)
    {
        var (plan, names, blocks) = BitStackFile.ReadPlan(path);
        int total = names.Count * blocks;
        log.WriteLine();
        log.WriteLine("| blocks | of all | memory (KB) | bits per compressed weight | validation loss |");
        log.WriteLine("|---:|---:|---:|---:|---:|");
        long weightsCount = 0;
        for (int percent = 10; percent <= 100; percent += 10)
        {
            int steps = Math.Clamp((int)Math.Round(percent / 100.0 * total) - names.Count, 0, plan.Order.Count);
            var (model, _, loaded) = LoadSteps(path, steps);
            if (weightsCount == 0) weightsCount = names.Sum(n => loaded.State[n].Numel);
            long blockBytes = loaded.Bytes - loaded.State.Where(kv => !names.Contains(kv.Key)).Sum(kv => kv.Value.Numel * 4);
            double loss = NamesAdaptation.ValidationLoss(model, model.Forward, corpus, model.Config.ContextLength);
            log.WriteLine(FormattableString.Invariant($"| {names.Count + steps} | {percent}% | {MemorySize.Kb(loaded.Bytes)} | {8.0 * blockBytes / weightsCount:F2} | {loss:F4} |"));
        }
        log.WriteLine(FormattableString.Invariant($"| original (Float32) | | {MemorySize.Kb(originalBytes)} | 32.00 | {originalLoss:F4} |"));
    }

    static List<(string Name, Tensor Weight)> WeightNames(Gpt model)
    {
        var byTensor = model.NamedParameters().GroupBy(p => p.Parameter, ReferenceEqualityComparer.Instance).ToDictionary(g => g.Key!, g => g.First().Name, ReferenceEqualityComparer.Instance);
        return GptLinears.Of(model).Select(e => (byTensor[e.Linear.Weight], e.Linear.Weight)).ToList();
    }

    static List<Tensor> Prefixes(BitStackWeight w)
    {
        var sum = new double[w.Rows * w.Cols];
        var list = new List<Tensor>();
        foreach (var block in w.Blocks)
        {
            block.AddTo(sum);
            list.Add(Tensor.FromArray(Array.ConvertAll(sum, v => (float)v), [w.Rows, w.Cols]));
        }
        return list;
    }
}

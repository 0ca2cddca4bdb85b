using System.Globalization;
using System.Text.Json;
using Engine.Nn.Checkpoints;

namespace Engine.Nn.Compression;

/// <summary>
/// A BitStack model in one safetensors file (spec adapters-other.md §17, "Save"): per weight and block the packed signs
/// (<c>bitstack.NAME.I.signs</c>, U8), u_i and v_iᵀ (<c>.u</c>, <c>.vt</c>, F16); the tensors that are not compressed
/// (<c>dense.NAME</c>, F32: embeddings, norms, biases); and in the metadata under <see cref="MetadataKey"/> the block
/// count, each weight's name and shape, the block-addition order and the cumulative memory, beside the caller's values
/// (a model configuration, a vocabulary). <see cref="Load"/> with a memory budget rebuilds the state dict of the
/// largest configuration that fits. The reference saves a folder of per-layer tensors and a JSON of configurations;
/// one file is the engine's choice.
/// <code>BitStackFile.Save(path, weights, plan, dense, values); var (state, counts, bytes) = BitStackFile.Load(path, 2 &lt;&lt; 20);</code>
/// </summary>
public static class BitStackFile
{
    /// <summary>Metadata key of the BitStack description (JSON).</summary>
    public const string MetadataKey = "bitstack";

    const string BlockPrefix = "bitstack.", DensePrefix = "dense.";

    sealed record WeightEntry(string Name, int Rows, int Cols, int Rank);

    sealed record Description(int Blocks, WeightEntry[] Weights, int[] Order, long[] CumulativeBytes);

    /// <summary>What a loaded configuration holds.</summary>
    /// <param name="State">Every tensor of the model: the dense ones and each weight as Σ_{i≤n_l} Ŵ_i.</param>
    /// <param name="Counts">n_l per compressed weight, by name.</param>
    /// <param name="Bytes">Stored size of this configuration (the plan's cumulative memory at the chosen prefix).</param>
    /// <param name="Steps">Length of the order's prefix that was taken.</param>
    /// <param name="Values">The caller's metadata values saved with the file.</param>
    public sealed record Loaded(Dictionary<string, Tensor> State, IReadOnlyDictionary<string, int> Counts, long Bytes, int Steps, IReadOnlyDictionary<string, string> Values);

    /// <summary>Writes the decomposed weights, their plan, the uncompressed tensors and <paramref name="values"/> to <paramref name="path"/> (atomically).</summary>
    /// <exception cref="ArgumentException">Weights disagree on their block count, a name repeats, or a value uses the reserved key.</exception>
    public static void Save(string path, IReadOnlyList<BitStackWeight> weights, BitStackPlan plan, IReadOnlyDictionary<string, Tensor> dense, IReadOnlyDictionary<string, string> values)
    {
        if (weights.Count == 0) throw new ArgumentException("BitStackFile.Save: no compressed weights");
        int blocks = weights[0].Blocks.Count;
        if (weights.Any(w => w.Blocks.Count != blocks)) throw new ArgumentException("BitStackFile.Save: every weight must have the same number of blocks");
        if (values.ContainsKey(MetadataKey)) throw new ArgumentException($"BitStackFile.Save: value name '{MetadataKey}' is reserved");
        var tensors = new Dictionary<string, Tensor>();
        var storage = new Dictionary<string, SafetensorsDType>();
        foreach (var (name, t) in dense) tensors.Add(DensePrefix + name, t.Detach().To(DType.Float32));
        foreach (var w in weights)
        {
            if (dense.ContainsKey(w.Name)) throw new ArgumentException($"BitStackFile.Save: '{w.Name}' is both compressed and dense");
            for (int i = 0; i < blocks; i++)
            {
                var b = w.Blocks[i];
                string at = BlockName(w.Name, i);
                tensors.Add(at + ".signs", Tensor.FromArray(Array.ConvertAll(b.Signs, v => (int)v), [b.Signs.Length]));
                tensors.Add(at + ".u", Tensor.FromArray(b.U, [b.Rows, b.Rank]));
                tensors.Add(at + ".vt", Tensor.FromArray(b.Vt, [b.Rank, b.Cols]));
                storage[at + ".signs"] = SafetensorsDType.U8;
                storage[at + ".u"] = SafetensorsDType.F16;
                storage[at + ".vt"] = SafetensorsDType.F16;
            }
        }
        var description = new Description(blocks, weights.Select(w => new WeightEntry(w.Name, w.Rows, w.Cols, w.Blocks[0].Rank)).ToArray(),
            plan.Order.ToArray(), plan.CumulativeBytes.ToArray());
        var metadata = new Dictionary<string, string>(values) { [MetadataKey] = JsonSerializer.Serialize(description) };
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        Safetensors.SaveWithStorage(path, tensors, metadata, storage);
    }

    /// <summary>Whether <paramref name="path"/> is a safetensors file with a BitStack description.</summary>
    public static bool IsBitStack(string path)
    {
        if (!File.Exists(path)) return false;
        using var file = Safetensors.Open(path);
        return file.Metadata.ContainsKey(MetadataKey);
    }

    /// <summary>The plan saved in <paramref name="path"/> (order and cumulative memory) and the names of its compressed weights.</summary>
    public static (BitStackPlan Plan, IReadOnlyList<string> Weights, int Blocks) ReadPlan(string path)
    {
        using var file = Safetensors.Open(path);
        var d = Read(path, file);
        return (new BitStackPlan(d.Order, d.CumulativeBytes), d.Weights.Select(w => w.Name).ToArray(), d.Blocks);
    }

    /// <summary>
    /// The model state of the largest configuration whose size is at most <paramref name="budgetBytes"/> (all blocks
    /// when null or above the total); each weight rebuilt as Σ_{i≤n_l} Ŵ_i from its stored blocks.
    /// </summary>
    /// <exception cref="ArgumentException">The budget is below the smallest configuration.</exception>
    /// <exception cref="InvalidDataException">The file is not a consistent BitStack file.</exception>
    public static Loaded Load(string path, long? budgetBytes) => LoadChosen(path, plan => budgetBytes is { } b ? plan.Select(b) : plan.Order.Count);

    /// <summary>The model state after the first <paramref name="steps"/> entries of the saved order.</summary>
    public static Loaded LoadSteps(string path, int steps) => LoadChosen(path, plan =>
        steps >= 0 && steps <= plan.Order.Count ? steps : throw new ArgumentOutOfRangeException(nameof(steps), $"BitStackFile: '{path}' has {plan.Order.Count} steps; asked for {steps}"));

    static Loaded LoadChosen(string path, Func<BitStackPlan, int> choose)
    {
        using var file = Safetensors.Open(path);
        var d = Read(path, file);
        var plan = new BitStackPlan(d.Order, d.CumulativeBytes);
        int steps = choose(plan);
        var counts = plan.CountsAfter(steps, d.Weights.Length);
        var state = new Dictionary<string, Tensor>();
        foreach (var name in file.Names.Where(n => n.StartsWith(DensePrefix, StringComparison.Ordinal)))
            state[name[DensePrefix.Length..]] = file.Read(name);
        var countByName = new Dictionary<string, int>();
        for (int l = 0; l < d.Weights.Length; l++)
        {
            var e = d.Weights[l];
            var blocks = new List<BitStackBlock>();
            for (int i = 0; i < counts[l]; i++) blocks.Add(ReadBlock(path, file, e, i));
            state[e.Name] = new BitStackWeight(e.Name, e.Rows, e.Cols, blocks, []).Reconstruct(counts[l]);
            countByName[e.Name] = counts[l];
        }
        var values = file.Metadata.Where(kv => kv.Key != MetadataKey).ToDictionary(kv => kv.Key, kv => kv.Value);
        return new Loaded(state, countByName, plan.CumulativeBytes[steps], steps, values);
    }

    static BitStackBlock ReadBlock(string path, SafetensorsFile file, WeightEntry e, int i)
    {
        string at = BlockName(e.Name, i);
        try
        {
            var signs = Array.ConvertAll(file.Read(at + ".signs").ToArray<int>(), v => (byte)v);
            return BitStackBlock.Create(e.Rows, e.Cols, e.Rank, signs, file.Read(at + ".u").ToArray<float>(), file.Read(at + ".vt").ToArray<float>());
        }
        catch (Exception ex) when (ex is KeyNotFoundException or ArgumentException)
        {
            throw new InvalidDataException($"BitStackFile: '{path}' block {i} of '{e.Name}' is missing or malformed ({ex.Message})", ex);
        }
    }

    static Description Read(string path, SafetensorsFile file)
    {
        if (!file.Metadata.TryGetValue(MetadataKey, out var json))
            throw new InvalidDataException($"'{path}' is not a BitStack file (no '{MetadataKey}' metadata; write one with `engine compress --bitstack`)");
        Description? d;
        try { d = JsonSerializer.Deserialize<Description>(json); }
        catch (JsonException e) { throw new InvalidDataException($"BitStackFile: '{path}' metadata '{MetadataKey}' is not valid JSON ({e.Message})", e); }
        if (d is null || d.Weights is null || d.Order is null || d.CumulativeBytes is null || d.Blocks < 1 || d.Weights.Length == 0
            || d.Order.Length != (d.Blocks - 1) * d.Weights.Length || d.CumulativeBytes.Length != d.Order.Length + 1
            || d.Order.Any(l => l < 0 || l >= d.Weights.Length) || d.Weights.Any(w => w.Rows < 1 || w.Cols < 1 || w.Rank < 1 || string.IsNullOrEmpty(w.Name)))
            throw new InvalidDataException($"BitStackFile: '{path}' metadata '{MetadataKey}' is inconsistent (blocks, weights, order and memory do not match)");
        return d;
    }

    static string BlockName(string weight, int block) => $"{BlockPrefix}{weight}.{block.ToString(CultureInfo.InvariantCulture)}";
}

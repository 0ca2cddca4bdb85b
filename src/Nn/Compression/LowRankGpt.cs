using System.Text.Json;

namespace Engine.Nn.Compression;

/// <summary>
/// A <see cref="Gpt"/> whose block Linears (<see cref="GptLinears"/>: qkv, o, fc, proj) are replaced by rank-r
/// <see cref="LowRankLinear"/>s, as FWSVD compresses a model (spec structure-and-optimizers.md §4.3). The map from
/// each replaced layer (<c>"LAYER.KIND"</c>, e.g. <c>"0.qkv"</c>) to its rank is what a checkpoint stores under
/// <see cref="MetadataKey"/>, so that loading rebuilds the same structure before restoring the factors.
/// </summary>
public static class LowRankGpt
{
    /// <summary>Checkpoint metadata key of the rank map (JSON object "LAYER.KIND" → rank).</summary>
    public const string MetadataKey = "low_rank_linears";

    /// <summary>The key of one block Linear in the rank map.</summary>
    public static string Key(GptLinear linear) => $"{linear.Layer}.{linear.Kind}";

    /// <summary>
    /// Replaces each block Linear by its factorisation from <paramref name="factorise"/> (A [out, r], B [r, in]; the
    /// Linear's bias is kept) and returns the rank map.
    /// </summary>
    public static Dictionary<string, int> Factorise(Gpt model, Func<GptLinear, (Tensor A, Tensor B)> factorise)
    {
        var ranks = new Dictionary<string, int>();
        foreach (var entry in GptLinears.Of(model))
        {
            var linear = entry.Linear;
            var (a, b) = factorise(entry);
            entry.Replace(LowRankLinear.FromFactors(a, b, linear.Bias));
            ranks[Key(entry)] = a.Size(1);
        }
        return ranks;
    }

    /// <summary>The rank map as stored in metadata.</summary>
    public static string Serialize(IReadOnlyDictionary<string, int> ranks) => JsonSerializer.Serialize(ranks);

    /// <summary>
    /// Puts zero <see cref="LowRankLinear"/>s of the stored ranks where <paramref name="json"/> names them, so a state
    /// dict of a factorised model loads strictly into <paramref name="model"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The map is not JSON, names a layer the model lacks, or gives a rank outside 1..min(out, in).</exception>
    public static void Rebuild(Gpt model, string json)
    {
        Dictionary<string, int>? ranks;
        try { ranks = JsonSerializer.Deserialize<Dictionary<string, int>>(json); }
        catch (JsonException e) { throw new InvalidDataException($"LowRankGpt: metadata '{MetadataKey}' is not a JSON object of ranks ({e.Message})", e); }
        var entries = GptLinears.Of(model).ToDictionary(Key);
        foreach (var (key, rank) in ranks ?? [])
        {
            if (!entries.TryGetValue(key, out var entry))
                throw new InvalidDataException($"LowRankGpt: metadata '{MetadataKey}' names '{key}', which is not a block Linear of this model ({string.Join(", ", entries.Keys)})");
            var linear = entry.Linear;
            if (rank < 1 || rank > Math.Min(linear.InFeatures, linear.OutFeatures))
                throw new InvalidDataException($"LowRankGpt: metadata '{MetadataKey}' gives '{key}' [{linear.OutFeatures}, {linear.InFeatures}] rank {rank}; expected 1..{Math.Min(linear.InFeatures, linear.OutFeatures)}");
            entry.Replace(new LowRankLinear(linear.InFeatures, linear.OutFeatures, rank, linear.Bias is not null));
        }
    }
}

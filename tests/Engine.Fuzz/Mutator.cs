using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace Engine.Fuzz;

/// <summary>
/// Hostile edits of the files the engine reads: bytes flipped, files truncated, safetensors headers with absurd dtypes,
/// shapes and offsets, JSON configs with wrong types, huge, negative, zero and NaN values, duplicate keys, invalid text
/// and bad or catastrophic regular expressions. Every choice comes from one seeded <see cref="Random"/>, so a case is
/// reproduced by its seed.
/// </summary>
public sealed class Mutator(Random random)
{
    // JSON values written as raw text (numbers JSON cannot round-trip through a JsonNode, and invalid literals).
    const string Raw = "@@raw:";

    static readonly string[] HostileValues =
    [
        "\"x\"", "-1", "0", "1", "2", "4", "64", "-3", "2147483647", "2147483648", "-2147483649", "9223372036854775808",
        Raw + "1e400", Raw + "-1e400", Raw + "NaN", Raw + "Infinity", "1e308", "-1e308", "1e38", "3.5e38", "1e-320", "1000000",
        "0.5", "1.5", "-0.1", "null", "true", "false", "[]", "{}", "[1, 2]", "[-1]", "[0]", "\"(\"", "\"[a-\"", "\"*x\"",
        "\"([a-z_.0-9]+)+x\"", "\"(a|aa)+$\"", "\"(.*)*b\"", "{\"(\": 1}", "{\"h.0\": 0}", "{\"c_attn\": 1000000}",
        "{\"c_fc\": 1e308}", "{\"c_attn\": -1}", "{\"x\": [true]}", "\"LORA\"", "\"ADALORA\"", "\"VERA\"", "\"IA3\"",
        "\"PROMPT_TUNING\"", "\"PREFIX_TUNING\"", "\"BOTTLENECK\"", "\"NOPE\"", "\"c_fc\"", "[\"c_attn\"]", "[\"nothing\"]",
        "[\"c_attn\", 3]", "\"gpt2\"", "\"bert\"", "\"gelu_new\"", "\"all\"", "\"pissa\"", "\"olora\"", "\"gaussian\"",
        "\"SAMPLE_VOCAB\"", "\"TEXT\"", "\"zero\"", Raw + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ];

    static readonly string[] ExtraFields =
    [
        "r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "rank_pattern", "alpha_pattern",
        "layers_to_transform", "layers_pattern", "modules_to_save", "use_dora", "use_rslora", "init_lora_weights", "bias",
        "peft_type", "num_virtual_tokens", "encoder_hidden_size", "prefix_projection", "init_r", "target_r", "total_step",
        "feedforward_modules", "d_initial", "projection_prng_key", "save_projection", "bottleneck_size", "inference_mode",
        "n_layer", "n_head", "n_embd", "n_positions", "n_ctx", "vocab_size", "layer_norm_epsilon", "model_type",
        "activation_function", "resid_pdrop", "embd_pdrop", "attn_pdrop", "tie_word_embeddings",
    ];

    static readonly string[] DTypes = ["F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "C64", "f32", ""];

    int Pick(int n) => random.Next(n);

    T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];

    /// <summary>A mutation of a safetensors file: byte flips, truncation or a header edit.</summary>
    public (byte[] Bytes, string What) Safetensors(byte[] file) => Pick(10) switch
    {
        < 3 => FlipBytes(file),
        3 => Truncate(file),
        _ => EditHeader(file),
    };

    /// <summary>A mutation of a JSON config: byte flips, truncation, a field edit, a duplicate key or invalid text.</summary>
    public (byte[] Bytes, string What) Json(byte[] file) => Pick(12) switch
    {
        0 => FlipBytes(file),
        1 => Truncate(file),
        2 => DuplicateKey(file),
        _ => EditField(file),
    };

    (byte[], string) FlipBytes(byte[] file)
    {
        var copy = (byte[])file.Clone();
        int count = 1 + Pick(8);
        // Most flips land in the first bytes: the length prefix and the header, where the decisions are.
        for (int i = 0; i < count && copy.Length > 0; i++)
        {
            int at = Pick(2) == 0 ? Pick(Math.Min(copy.Length, 256)) : Pick(copy.Length);
            copy[at] = (byte)Pick(256);
        }
        return (copy, $"flip {count} bytes");
    }

    (byte[], string) Truncate(byte[] file)
    {
        int length = file.Length == 0 ? 0 : Pick(file.Length);
        return (file[..length], $"truncate to {length} of {file.Length}");
    }

    (byte[], string) DuplicateKey(byte[] file)
    {
        var text = Encoding.UTF8.GetString(file);
        int brace = text.IndexOf('{');
        if (brace < 0) return FlipBytes(file);
        var field = Pick(ExtraFields);
        return (Encoding.UTF8.GetBytes(text[..(brace + 1)] + $"\"{field}\": {RawText(Pick(HostileValues))}, " + text[(brace + 1)..]), $"duplicate '{field}'");
    }

    (byte[], string) EditField(byte[] file)
    {
        JsonObject json;
        try { json = JsonNode.Parse(file)!.AsObject(); }
        catch (Exception) { return FlipBytes(file); }
        var keys = json.Select(kv => kv.Key).ToList();
        var field = Pick(3) == 0 || keys.Count == 0 ? Pick(ExtraFields) : Pick(keys);
        if (Pick(10) == 0)
        {
            json.Remove(field);
            return (Encoding.UTF8.GetBytes(json.ToJsonString()), $"remove '{field}'");
        }
        var value = Pick(HostileValues);
        json[field] = value.StartsWith(Raw, StringComparison.Ordinal) ? JsonValue.Create(value) : JsonNode.Parse(value);
        return (Encoding.UTF8.GetBytes(WithRawValues(json.ToJsonString())), $"'{field}' = {RawText(value)}");
    }

    (byte[], string) EditHeader(byte[] file)
    {
        if (file.Length < 8) return FlipBytes(file);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (n > (ulong)(file.Length - 8)) return FlipBytes(file);
        JsonObject header;
        try { header = JsonNode.Parse(file.AsSpan(8, (int)n))!.AsObject(); }
        catch (Exception) { return FlipBytes(file); }
        var names = header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        if (names.Count == 0) return FlipBytes(file);
        var name = Pick(names);
        var entry = header[name] as JsonObject;
        string what;
        switch (Pick(9))
        {
            case 0:
                var dtype = Pick(DTypes);
                entry!["dtype"] = dtype;
                what = $"'{name}' dtype {dtype}";
                break;
            case 1:
            case 2:
                var shape = Pick(new Func<JsonArray>[]
                {
                    () => [1_000_000_000_000L], () => [-1], () => [], () => [0], () => [2147483648L], () => [1.5], () => ["a"],
                    () => new JsonArray(Enumerable.Repeat(1, 70).Select(i => (JsonNode)i).ToArray()),
                    () => [65536, 65536, 65536, 65536], () => [3037000500L, 3037000500L],
                    () => ShapeOf(entry!).Append(1).ToJsonArray(), () => ShapeOf(entry!).Skip(1).ToJsonArray(),
                    () => ShapeOf(entry!).Reverse().ToJsonArray(), () => ShapeOf(entry!).Select(d => d * 2).ToJsonArray(),
                })();
                entry!["shape"] = shape;
                what = $"'{name}' shape {shape.ToJsonString()}";
                break;
            case 3:
            case 4:
                var (b, e) = OffsetsOf(entry!);
                var offsets = Pick(new Func<JsonArray>[]
                {
                    () => [e, b], () => [0, 1_000_000_000_000_000_000L], () => [-8, e], () => [b, e + 1], () => [b + 1, e],
                    () => [0, 0], () => [b], () => [b, e, e], () => ["x", e], () => [b, long.MaxValue], () => [b - 4, e - 4],
                })();
                entry!["data_offsets"] = offsets;
                what = $"'{name}' data_offsets {offsets.ToJsonString()}";
                break;
            case 5:
                entry!.Remove(Pick(new[] { "dtype", "shape", "data_offsets" }));
                what = $"'{name}' field removed";
                break;
            case 6:
                header.Remove(name);
                what = $"'{name}' removed";
                break;
            case 7:
                header.Remove(name);
                var renamed = Pick(new[] { name + ".weight", name.Replace("lora_A", "lora_B"), "x", "", "__metadata__", name.ToUpperInvariant() });
                header[renamed] = entry;
                what = $"'{name}' renamed '{renamed}'";
                break;
            default:
                header[name] = JsonNode.Parse(Pick(HostileValues) is var v && v.StartsWith(Raw, StringComparison.Ordinal) ? "null" : v);
                what = $"'{name}' replaced";
                break;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var result = new byte[8 + json.Length + (file.Length - 8 - (int)n)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)json.Length);
        json.CopyTo(result, 8);
        file.AsSpan(8 + (int)n).CopyTo(result.AsSpan(8 + json.Length));
        return (result, what);
    }

    static IEnumerable<long> ShapeOf(JsonObject entry) =>
        entry["shape"] is JsonArray a ? a.Select(d => d is JsonValue v && v.TryGetValue<long>(out var x) ? x : 1) : [];

    static (long, long) OffsetsOf(JsonObject entry) =>
        entry["data_offsets"] is JsonArray { Count: 2 } a && a[0] is JsonValue v0 && v0.TryGetValue<long>(out var b) && a[1] is JsonValue v1 && v1.TryGetValue<long>(out var e)
            ? (b, e) : (0, 8);

    static string RawText(string value) => value.StartsWith(Raw, StringComparison.Ordinal) ? value[Raw.Length..] : value;

    static string WithRawValues(string json)
    {
        foreach (var value in HostileValues.Where(v => v.StartsWith(Raw, StringComparison.Ordinal)))
            json = json.Replace($"\"{value}\"", RawText(value), StringComparison.Ordinal);
        return json;
    }
}

static class JsonArrayExtensions
{
    public static JsonArray ToJsonArray(this IEnumerable<long> values) => new(values.Select(v => (JsonNode)v).ToArray());
}

using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Engine.Peft;

/// <summary>
/// <c>adapter_config.json</c> from and to configuration records, written once for every method: field names are the
/// property names in snake_case (<c>LoraAlpha</c> is <c>lora_alpha</c>; a <see cref="JsonPropertyNameAttribute"/>
/// keeps PEFT's spelling where it differs, as <c>use_rslora</c>), defaults are the properties' initialisers, unknown
/// fields are ignored (PEFT drops them too), and <c>[JsonIgnore]</c> marks the engine's own fields.
/// </summary>
public static class PeftConfigJson
{
    /// <summary>The serializer options every configuration uses.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        WriteIndented = true,
    };

    /// <summary>The JSON object of <paramref name="config"/>, keys sorted as PEFT writes them.</summary>
    public static JsonObject ToJson(PeftConfig config)
    {
        var node = JsonSerializer.SerializeToNode(config, config.GetType(), Options)!.AsObject();
        var sorted = new JsonObject();
        foreach (var (key, value) in node.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sorted[key] = value?.DeepClone();
        return sorted;
    }

    /// <summary>
    /// Reads a configuration, finding its record by <c>peft_type</c>, and checks its values and regular expressions
    /// (<see cref="PeftConfig.ValidateAll"/>; checks that only apply to training wait for the adapter to be added).
    /// </summary>
    /// <exception cref="InvalidDataException">No peft_type, an unknown one, a field of the wrong type, out of range or a
    /// bad pattern (named, with <paramref name="source"/>).</exception>
    /// <exception cref="NotSupportedException">A combination of fields the engine does not implement.</exception>
    public static PeftConfig FromJson(JsonObject json, string? source = null)
    {
        string where = source is null ? "adapter_config.json" : $"'{source}'";
        string type = json["peft_type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s
            : throw new InvalidDataException($"{where}: field 'peft_type' is missing or not a string");
        var method = PeftRegistry.FindByPeftType(type)
            ?? throw new InvalidDataException($"{where}: peft_type '{type}' is not implemented; known types: {string.Join(", ", PeftRegistry.Methods.Select(m => m.PeftType))}");
        var config = Read(json, method.ConfigType, where);
        try { (config with { InferenceMode = true }).ValidateAll(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{where}: {e.Message}", e); }
        catch (NotSupportedException e) { throw new NotSupportedException($"{where}: {e.Message}", e); }
        return config;
    }

    /// <summary>A copy of <paramref name="config"/> with JSON fields set from text (<c>r=16</c>, <c>use_dora=true</c>), as the CLI's <c>--set</c>.</summary>
    /// <exception cref="ArgumentException">A field does not exist or its value has the wrong type.</exception>
    public static PeftConfig With(PeftConfig config, IReadOnlyDictionary<string, string> fields)
    {
        var json = ToJson(config);
        foreach (var (key, text) in fields)
        {
            if (!json.ContainsKey(key) || key == "peft_type")
                throw new ArgumentException($"{config.PeftType}: no field '{key}'; fields: {string.Join(", ", json.Select(kv => kv.Key).Where(k => k != "peft_type"))}");
            json[key] = ParseValue(text);
        }
        PeftConfig updated;
        try { updated = Read(json, config.GetType(), config.PeftType); }
        catch (InvalidDataException e) { throw new ArgumentException(e.Message, e); }
        // The engine's own fields ([JsonIgnore]) are not in the JSON: carry them over.
        foreach (var p in config.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
            if (p.GetCustomAttribute<JsonIgnoreAttribute>() is not null && p.CanWrite) p.SetValue(updated, p.GetValue(config));
        return updated;
    }

    // A JSON literal (number, true, null, [..], {..}) when the text is one, a string otherwise.
    static JsonNode? ParseValue(string text)
    {
        try { return JsonNode.Parse(text); }
        catch (JsonException) { return JsonValue.Create(text); }
    }

    static PeftConfig Read(JsonObject json, Type type, string where)
    {
        try
        {
            return (PeftConfig)(json.Deserialize(type, Options)
                ?? throw new InvalidDataException($"{where}: the configuration is null"));
        }
        catch (JsonException e)
        {
            string field = e.Path is { Length: > 2 } p ? p[2..] : "?";
            throw new InvalidDataException($"{where}: field '{field}' of {type.Name}: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            // A null where a value is required (a converter's ArgumentNullException...).
            throw new InvalidDataException($"{where}: {type.Name}: {e.Message}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or FormatException)
        {
            throw new InvalidDataException($"{where}: {type.Name}: {e.Message}", e);
        }
    }
}

/// <summary>A list of integers that may be written as one integer (PEFT's <c>layers_to_transform</c>).</summary>
sealed class IntListJsonConverter : JsonConverter<IReadOnlyList<int>>
{
    public override IReadOnlyList<int>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number) return [ReadInt(ref reader)];
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException($"expected an integer or a list of integers, got {reader.TokenType}");
        var list = new List<int>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number) throw new JsonException($"expected a list of integers, got {reader.TokenType} in it");
            list.Add(ReadInt(ref reader));
        }
        return list;
    }

    static int ReadInt(ref Utf8JsonReader reader) =>
        reader.TryGetInt32(out int value) ? value : throw new JsonException("expected a 32-bit integer");

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<int> value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value.ToArray(), options);
}

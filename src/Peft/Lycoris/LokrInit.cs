using System.Text.Json;
using System.Text.Json.Serialization;

namespace Engine.Peft.Lycoris;

/// <summary>How a LoKr adapter starts (PEFT's <c>init_weights</c>: a boolean or <c>"lycoris"</c>).</summary>
[JsonConverter(typeof(LokrInitJsonConverter))]
public enum LokrInit
{
    /// <summary>W1 (or W1a) = 0, the others Kaiming-uniform: the model starts at the base. PEFT: <c>true</c>.</summary>
    Default,

    /// <summary>W2 (or W2b) = 0, the others Kaiming-uniform, as the LyCORIS library: starts at the base. PEFT: <c>"lycoris"</c>.</summary>
    Lycoris,

    /// <summary>Every factor Kaiming-uniform: non-zero from the start (tests). PEFT: <c>false</c>.</summary>
    Random,
}

/// <summary>PEFT's JSON of <see cref="LokrInit"/>: true, false or "lycoris".</summary>
sealed class LokrInitJsonConverter : JsonConverter<LokrInit>
{
    public override LokrInit Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.True => LokrInit.Default,
        JsonTokenType.False => LokrInit.Random,
        JsonTokenType.String when reader.GetString() == "lycoris" => LokrInit.Lycoris,
        JsonTokenType.String => throw new JsonException($"init_weights '{reader.GetString()}' is not a LoKr initialisation (true, false, \"lycoris\")"),
        _ => throw new JsonException("init_weights must be a boolean or \"lycoris\""),
    };

    public override void Write(Utf8JsonWriter writer, LokrInit value, JsonSerializerOptions options)
    {
        if (value == LokrInit.Lycoris) writer.WriteStringValue("lycoris");
        else writer.WriteBooleanValue(value == LokrInit.Default);
    }
}

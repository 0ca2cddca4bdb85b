using System.Text.Json;
using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>
/// LoftQ's options (PEFT's <c>LoftQConfig</c>, the value of LoRA's <c>loftq_config</c>, used with
/// <c>init_lora_weights: "loftq"</c>; Li et al. 2023, arXiv:2310.08659): the bits of the quantised base and the number of
/// alternating quantise / SVD steps (<see cref="LoftqInit"/>). PEFT writes <c>{}</c> when unset, read here as null.
/// </summary>
[JsonConverter(typeof(LoftqConfigJsonConverter))]
public sealed record LoftqConfig
{
    /// <summary>Bits of the NormalFloat quantisation of the base: 4 (PEFT's default) or 2 (PEFT before 0.20).</summary>
    public int LoftqBits { get; init; } = 4;

    /// <summary>Alternating iterations T of the paper's algorithm 1 (PEFT's default 1).</summary>
    public int LoftqIter { get; init; } = 1;

    /// <summary>
    /// Checks the fields as PEFT's <c>loftq_init</c> does. PEFT 0.20 quantises 4 bits with bitsandbytes' NF4 (the table
    /// <see cref="NormalFloatQuantizer"/> computes) and 8 bits with bitsandbytes' row-wise int8, which the engine does
    /// not implement; 2 bits are NF2 as PEFT's NFQuantizer computed them before 0.20.
    /// </summary>
    public void Validate()
    {
        if (LoftqBits == 8) throw new NotSupportedException("loftq_config: loftq_bits 8 (PEFT's bitsandbytes int8 row-wise quantisation) is not implemented; use 4 (NF4) or 2 (NF2)");
        if (LoftqBits is not (2 or 4)) throw new ArgumentException($"loftq_config: loftq_bits must be 4 or 2, got {LoftqBits}");
        if (LoftqIter < 1) throw new ArgumentException($"loftq_config: loftq_iter must be positive (PEFT: 'Number of iterations must be greater than 0'), got {LoftqIter}");
    }
}

/// <summary>PEFT's <c>loftq_config</c> JSON: an empty object (or null) is unset; unknown keys are ignored, as PEFT's dict ignores them.</summary>
sealed class LoftqConfigJsonConverter : JsonConverter<LoftqConfig?>
{
    public override bool HandleNull => true;

    public override LoftqConfig? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException($"loftq_config must be an object, got {reader.TokenType}");
        var config = new LoftqConfig();
        bool any = false;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string name = reader.GetString()!;
            reader.Read();
            any = true;
            switch (name)
            {
                case "loftq_bits": config = config with { LoftqBits = ReadInt(ref reader, name) }; break;
                case "loftq_iter": config = config with { LoftqIter = ReadInt(ref reader, name) }; break;
                default: reader.Skip(); break;
            }
        }
        return any ? config : null;
    }

    static int ReadInt(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int value) ? value
            : throw new JsonException($"loftq_config.{name} must be an integer, got {reader.TokenType}");

    public override void Write(Utf8JsonWriter writer, LoftqConfig? value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        if (value is not null)
        {
            writer.WriteNumber("loftq_bits", value.LoftqBits);
            writer.WriteNumber("loftq_iter", value.LoftqIter);
        }
        writer.WriteEndObject();
    }
}

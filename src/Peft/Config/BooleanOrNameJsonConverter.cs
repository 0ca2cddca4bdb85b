using System.Text.Json;
using System.Text.Json.Serialization;

namespace Engine.Peft;

/// <summary>
/// PEFT's initialisation fields that hold a boolean or a name (LoRA's <c>init_lora_weights</c>, LoKr's
/// <c>init_weights</c>): true is the method's default start, false a random one (for tests), a string names another.
/// A method's enum derives a converter and says only which values the three forms stand for.
/// </summary>
abstract class BooleanOrNameJsonConverter<T> : JsonConverter<T> where T : struct, Enum
{
    /// <summary>The JSON field, for messages.</summary>
    protected abstract string Field { get; }

    /// <summary>What <c>true</c> stands for.</summary>
    protected abstract T WhenTrue { get; }

    /// <summary>What <c>false</c> stands for.</summary>
    protected abstract T WhenFalse { get; }

    /// <summary>The accepted forms, for messages (<c>true, false, gaussian, ...</c>).</summary>
    protected abstract string Accepted { get; }

    /// <summary>The value <paramref name="name"/> stands for, or null when it names none.</summary>
    protected abstract T? FromName(string name);

    /// <summary>The name written for a value that is neither <see cref="WhenTrue"/> nor <see cref="WhenFalse"/>.</summary>
    protected virtual string NameOf(T value) => value.ToString().ToLowerInvariant();

    public sealed override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.True => WhenTrue,
        JsonTokenType.False => WhenFalse,
        JsonTokenType.String => FromName(reader.GetString()!) is { } value ? value
            : throw new JsonException($"{Field} '{reader.GetString()}' is not implemented ({Accepted})"),
        _ => throw new JsonException($"{Field} must be a boolean or a name ({Accepted})"),
    };

    public sealed override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        if (EqualityComparer<T>.Default.Equals(value, WhenTrue)) writer.WriteBooleanValue(true);
        else if (EqualityComparer<T>.Default.Equals(value, WhenFalse)) writer.WriteBooleanValue(false);
        else writer.WriteStringValue(NameOf(value));
    }
}

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
sealed class LokrInitJsonConverter : BooleanOrNameJsonConverter<LokrInit>
{
    protected override string Field => "init_weights";
    protected override LokrInit WhenTrue => LokrInit.Default;
    protected override LokrInit WhenFalse => LokrInit.Random;
    protected override string Accepted => "true, false, \"lycoris\"";
    protected override LokrInit? FromName(string name) => name == "lycoris" ? LokrInit.Lycoris : null;
}

using System.Text.Json.Serialization;

namespace Engine.Peft.Elementwise;

/// <summary>How a HiRA adapter starts (PEFT's <c>init_weights</c>: a boolean or <c>"gaussian"</c>).</summary>
[JsonConverter(typeof(HiraInitJsonConverter))]
public enum HiraInit
{
    /// <summary>A Kaiming-uniform (a = sqrt 5), B = 0: the model starts at the base. PEFT: <c>true</c>.</summary>
    Default,

    /// <summary>A ~ N(0, 1/r²), B = 0: starts at the base. PEFT: <c>"gaussian"</c>.</summary>
    Gaussian,

    /// <summary>A and B ~ N(0, 1) (PEFT's torch.randn before any reset): non-zero from the start (tests). PEFT: <c>false</c>.</summary>
    Random,
}

/// <summary>PEFT's JSON of <see cref="HiraInit"/>: true, false or "gaussian".</summary>
sealed class HiraInitJsonConverter : BooleanOrNameJsonConverter<HiraInit>
{
    protected override string Field => "init_weights";
    protected override HiraInit WhenTrue => HiraInit.Default;
    protected override HiraInit WhenFalse => HiraInit.Random;
    protected override string Accepted => "true, false, \"gaussian\"";
    protected override HiraInit? FromName(string name) => name == "gaussian" ? HiraInit.Gaussian : null;
}

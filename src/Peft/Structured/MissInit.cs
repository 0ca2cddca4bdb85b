using System.Text.Json.Serialization;

namespace Engine.Peft.Structured;

/// <summary>MiSS's form and start (PEFT's <c>init_weights</c>: a boolean, <c>"bat"</c> or <c>"mini"</c>).</summary>
[JsonConverter(typeof(MissInitJsonConverter))]
public enum MissInit
{
    /// <summary>The balanced form, D [r, out] = 0: the model starts at the base. PEFT: <c>true</c>.</summary>
    Default,

    /// <summary>The balanced form with D Kaiming-uniform: non-zero from the start (tests). PEFT: <c>false</c>.</summary>
    Random,

    /// <summary>Bone's block-affine form, D [out/r, r, r] = 0, W'_{a,c} = W_{a,c} + W_{a,c} D_a + D_a. PEFT: <c>"bat"</c>.</summary>
    Bat,

    /// <summary>The small form, D [r, mini_r] = 0 tiled along the outputs. PEFT: <c>"mini"</c>.</summary>
    Mini,
}

/// <summary>PEFT's JSON of <see cref="MissInit"/>: true, false, "bat" or "mini".</summary>
sealed class MissInitJsonConverter : BooleanOrNameJsonConverter<MissInit>
{
    protected override string Field => "init_weights";
    protected override MissInit WhenTrue => MissInit.Default;
    protected override MissInit WhenFalse => MissInit.Random;
    protected override string Accepted => "true, false, \"bat\", \"mini\"";
    protected override MissInit? FromName(string name) => name switch { "bat" => MissInit.Bat, "mini" => MissInit.Mini, _ => null };
}

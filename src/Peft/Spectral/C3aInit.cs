using System.Text.Json.Serialization;

namespace Engine.Peft.Spectral;

/// <summary>How a C3A kernel starts (PEFT's <c>init_weights</c>: a boolean or a name; <c>c3a/layer.py</c>, reset_c3a_parameters).</summary>
[JsonConverter(typeof(C3aInitJsonConverter))]
public enum C3aInit
{
    /// <summary>U(±√3 · √(2 / (in + out))) (PEFT's default, "xavier_uniform"): the model does not start at the base.</summary>
    XavierUniform,

    /// <summary>PEFT's <c>false</c>, which PEFT treats as <see cref="XavierUniform"/> (kept apart so files keep their value).</summary>
    False,

    /// <summary>Zeros: the model starts at the base. PEFT: <c>true</c>.</summary>
    Zeros,

    /// <summary>U(±1 / √in). PEFT: <c>"kaiming_uniform"</c>.</summary>
    KaimingUniform,

    /// <summary>N(0, 1). PEFT: <c>"gaussian"</c>.</summary>
    Gaussian,
}

/// <summary>PEFT's JSON of <see cref="C3aInit"/>: true, false, "xavier_uniform", "kaiming_uniform" or "gaussian".</summary>
sealed class C3aInitJsonConverter : BooleanOrNameJsonConverter<C3aInit>
{
    protected override string Field => "init_weights";
    protected override C3aInit WhenTrue => C3aInit.Zeros;
    protected override C3aInit WhenFalse => C3aInit.False;
    protected override string Accepted => "true, false, \"xavier_uniform\", \"kaiming_uniform\", \"gaussian\"";
    protected override C3aInit? FromName(string name) => name switch
    {
        "xavier_uniform" => C3aInit.XavierUniform,
        "kaiming_uniform" => C3aInit.KaimingUniform,
        "gaussian" => C3aInit.Gaussian,
        _ => null,
    };

    protected override string NameOf(C3aInit value) => value switch
    {
        C3aInit.XavierUniform => "xavier_uniform",
        C3aInit.KaimingUniform => "kaiming_uniform",
        _ => "gaussian",
    };
}

using System.Text.Json.Serialization;

namespace Engine.Peft.SharedBank;

/// <summary>How TinyLoRA's trainable vectors v start (PEFT's <c>init_weights</c>: a boolean or <c>"uniform"</c>).</summary>
[JsonConverter(typeof(TinyLoraInitJsonConverter))]
public enum TinyLoraInit
{
    /// <summary>v = 0: the model starts at the base. PEFT: <c>true</c>.</summary>
    Zero,

    /// <summary>v ~ U(-init_v_bound, init_v_bound). PEFT: <c>"uniform"</c>.</summary>
    Uniform,

    /// <summary>PEFT leaves v uninitialised (torch.empty); the engine draws U(-init_v_bound, init_v_bound). PEFT: <c>false</c>.</summary>
    Random,
}

/// <summary>PEFT's JSON of <see cref="TinyLoraInit"/>: true, false or "uniform".</summary>
sealed class TinyLoraInitJsonConverter : BooleanOrNameJsonConverter<TinyLoraInit>
{
    protected override string Field => "init_weights";
    protected override TinyLoraInit WhenTrue => TinyLoraInit.Zero;
    protected override TinyLoraInit WhenFalse => TinyLoraInit.Random;
    protected override string Accepted => "true, false, \"uniform\"";
    protected override TinyLoraInit? FromName(string name) => name == "uniform" ? TinyLoraInit.Uniform : null;
}

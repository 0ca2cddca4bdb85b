using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>How a LoRA adapter's A and B start (PEFT's <c>init_lora_weights</c>: a boolean or a name).</summary>
[JsonConverter(typeof(LoraInitJsonConverter))]
public enum LoraInit
{
    /// <summary>A Kaiming-uniform (a = sqrt 5, as nn.Linear), B = 0: the adapted layer starts equal to the base (Hu et al. 2021, section 4.1). PEFT: <c>true</c>.</summary>
    Default,

    /// <summary>A ~ N(0, (1/r)^2), B = 0. PEFT: <c>"gaussian"</c>.</summary>
    Gaussian,

    /// <summary>Principal singular vectors; the residual stays in the base weight (Meng et al. 2024). PEFT: <c>"pissa"</c>.</summary>
    Pissa,

    /// <summary>Thin QR of the base weight; the residual stays in the base weight (Büyükakyüz 2024). PEFT: <c>"olora"</c>.</summary>
    Olora,

    /// <summary>A and B both Kaiming-uniform, so the adapter is non-zero from the start (tests). PEFT: <c>false</c>.</summary>
    Random,

    /// <summary>A and B non-zero with B A = 0 (<see cref="LowRankInit.Orthogonal"/>); the base is untouched. PEFT: <c>"orthogonal"</c>.</summary>
    Orthogonal,

    /// <summary>MiCA: B = the minor left singular vectors of the base weight, frozen; A = 0 (<see cref="MicaVariant"/>). PEFT: <c>"mica"</c>.</summary>
    Mica,

    /// <summary>EVA: A = the top right-singular vectors of the layer's inputs on calibration data, ranks redistributed by explained variance, B = 0 (<see cref="EvaInit"/>). PEFT: <c>"eva"</c>.</summary>
    Eva,

    /// <summary>CorDA: components of the covariance-oriented SVD of the base weight (<see cref="T:Engine.Peft.LowRank.Corda"/>); the residual stays in the base. Needs calibration data. PEFT: <c>"corda"</c>.</summary>
    Corda,

    /// <summary>LoftQ (Li et al. 2023): the base becomes its NormalFloat quantisation Q, and B A approximates W − Q (<see cref="LoftqInit"/>; needs <see cref="LoraConfig.LoftqConfig"/>). PEFT: <c>"loftq"</c>.</summary>
    Loftq,

    /// <summary>LoRA-GA: singular vectors of the averaged gradient of the base weight (<see cref="T:Engine.Peft.LowRank.LoraGa"/>); the residual stays in the base. Needs calibration data. PEFT: <c>"lora_ga"</c>.</summary>
    LoraGa,
}

/// <summary>PEFT's JSON of <see cref="LoraInit"/>: true, false, or a name.</summary>
sealed class LoraInitJsonConverter : BooleanOrNameJsonConverter<LoraInit>
{
    protected override string Field => "init_lora_weights";
    protected override LoraInit WhenTrue => LoraInit.Default;
    protected override LoraInit WhenFalse => LoraInit.Random;
    protected override string Accepted => "true, false, gaussian, pissa, olora, orthogonal, mica, loftq, eva, corda, lora_ga";

    protected override string NameOf(LoraInit value) => value == LoraInit.LoraGa ? "lora_ga" : base.NameOf(value);

    protected override LoraInit? FromName(string name) => name switch
    {
        "gaussian" => LoraInit.Gaussian,
        // "pissa_niter_N" asks for a randomised SVD; the exact one gives the same subspace.
        _ when name.StartsWith("pissa", StringComparison.Ordinal) => LoraInit.Pissa,
        "olora" => LoraInit.Olora,
        "orthogonal" => LoraInit.Orthogonal,
        "mica" => LoraInit.Mica,
        "loftq" => LoraInit.Loftq,
        // PEFT's data-driven initialisations: read, so that validation refuses them by name.
        "eva" => LoraInit.Eva,
        _ when name.StartsWith("corda", StringComparison.Ordinal) => LoraInit.Corda,
        "lora_ga" => LoraInit.LoraGa,
        _ => null,
    };
}

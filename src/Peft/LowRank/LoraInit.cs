namespace Engine.Peft.LowRank;

/// <summary>How a LoRA adapter's A and B start (PEFT's <c>init_lora_weights</c>).</summary>
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
}

namespace Engine.Peft.Singular;

/// <summary>
/// LoLDU (Shi et al. 2024, arXiv 2410.13618; SKDDJ/LoLDU <c>minloldu/loldu.py</c>, spec adapters-lowrank.md section 4):
/// W0 = P L diag(D) U by LU with partial pivoting; W_eff = W_res + σ P L_r diag(z) U_r with L_r, U_r, P, W_res frozen,
/// σ = lora_alpha / rank stored but not trained, and only z [rank] trained, starting at D_r (<see cref="LolduLayer"/>).
/// This is an LU (LDU) factorisation, not an SVD: the first r pivots are in elimination order, not by importance.
/// The reference's field names; defaults of <c>LoLDUParametrization.from_linear</c> (rank 4, lora_alpha 1, init_method "lu").
/// <code>var peft = Peft.Apply(gpt, new LolduConfig { Rank = 8, TargetModules = ["qkv", "attn.proj"] });</code>
/// </summary>
[PeftMethod("LOLDU", Layer = typeof(LolduLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 3e-1)]
public sealed record LolduConfig : PeftConfig
{
    /// <summary>r: the number of leading LDU pivots that train (at most min(out, in)).</summary>
    public int Rank { get; init; } = 4;

    /// <summary>σ = lora_alpha / rank scales the LDU term (from_linear's 1, so σ = 1/r).</summary>
    public double LoraAlpha { get; init; } = 1;

    /// <summary>
    /// The start of z: "lu" (z = D_r, exact at init; the reference's default). The reference's other starts (uniform,
    /// normal, constant, ones, zeros...) move the model away from the base and are not implemented.
    /// </summary>
    public string InitMethod { get; init; } = "lu";

    /// <inheritdoc/>
    public override void Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LolduConfig: rank must be positive, got {Rank}");
        if (!(LoraAlpha != 0 && double.IsFinite(LoraAlpha))) throw new ArgumentException($"LolduConfig: lora_alpha must be finite and non-zero, got {LoraAlpha}");
        if (InitMethod != "lu") throw new ArgumentException($"LolduConfig: init_method must be \"lu\" (the only start implemented), got \"{InitMethod}\"");
    }

    /// <summary>The zoo's LoLDU: rank = size on every block projection, σ = 1/r (from_linear's lora_alpha 1).</summary>
    public static LolduConfig Preset(AdapterPreset p) => new() { Rank = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}

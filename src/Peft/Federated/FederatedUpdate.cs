namespace Engine.Peft.Federated;

/// <summary>
/// What the server sends back for one adapted layer after a round: the global factors that every client starts the
/// next round from, and optionally a residual R [out, in] (without the adapter's scale) that is folded into the frozen
/// base weight, W0 ← W0 + s·R, so that the global model is W0 + s·(R + B·A).
/// </summary>
/// <param name="Global">The broadcast (B, A).</param>
/// <param name="Residual">The part of the aggregated update that the factors do not carry, or null when nothing is folded.</param>
public sealed record FederatedUpdate(LoraFactors Global, Tensor? Residual = null)
{
    /// <summary>The update the global model carries relative to the round's base, R + B·A (Float64, without the scale).</summary>
    public Tensor CarriedProduct() => Residual is null ? Global.Product() : Residual.To(DType.Float64) + Global.Product();
}

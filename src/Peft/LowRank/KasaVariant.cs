namespace Engine.Peft.LowRank;

/// <summary>
/// KaSA (Wang et al. 2024, "Knowledge-aware singular-value adaptation", arXiv:2412.06071; PEFT's
/// <c>KasaLinearVariant</c>): the base weight W = U S Vᵀ loses its r smallest singular components once, when the
/// adapter is added (W_k-r, k = min(out, in)), and the update is ΔW = s B diag(d) A with a trained diagonal d [r]
/// (<c>lora_diag</c>, drawn N(0, 1); B starts at zero, so the adapted layer starts at the truncated base). PEFT
/// leaves the truncation in place when the adapter is deleted; the engine puts the original weight back (as for
/// PiSSA), so deleting an adapter always gives the model it was added to.
/// </summary>
public sealed class KasaVariant : ILoraVariant
{
    /// <summary>The container of the diagonals (PEFT's key).</summary>
    public const string DiagKey = "lora_diag";

    Tensor? _original, _truncated;

    /// <inheritdoc/>
    public IEnumerable<(string Container, int[] Shape)> ExtraParameters(LoraLayer layer, int r)
    {
        Truncation(layer, r);
        return [(DiagKey, [r])];
    }

    // The rank kept: k - r, at least 1 (PEFT's check).
    static int Truncation(LoraLayer layer, int r)
    {
        int k = Math.Min(layer.InFeatures, layer.OutFeatures);
        if (r >= k) throw new ArgumentException($"KaSA: r = {r} must be below min(in, out) = {k}, so that a singular component of the base weight remains");
        return k - r;
    }

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator)
    {
        int r = layer.Settings(name).R;
        int kept = Truncation(layer, r);
        var weight = layer.BaseLayer.Weight;
        layer.AddVariantParameter(DiagKey, name, Tensor.Randn([r], 0, 1, weight.DType, generator, weight.Device));
        using var _ = Autograd.Autograd.NoGrad();
        // The best rank-(k - r) approximation (Eckart-Young), in float64: PEFT computes the same in float32.
        var (u, sv, vh) = Linalg.SvdTopK(weight.Detach().To(Device.Cpu).To(DType.Float64), kept);
        _original = weight.Detach().Clone();
        weight.CopyFrom(((u * sv.Unsqueeze(0)) % vh).To(weight.DType).To(weight.Device));
        _truncated = weight.Detach().Clone();
    }

    /// <summary>The trained diagonal d [r] of adapter <paramref name="name"/>.</summary>
    public static Tensor Diag(LoraLayer layer, string name) => layer.VariantParameter(DiagKey, name);

    /// <inheritdoc/>
    public Tensor? DeltaWeight(LoraLayer layer, string name) =>
        (layer.LoraB(name) * Diag(layer, name).Unsqueeze(0)) % layer.LoraA(name) * layer.Settings(name).Scaling;

    /// <inheritdoc/>
    public Tensor? Contribution(LoraLayer layer, string name, Tensor x) =>
        layer.FactorB(name).Forward(layer.FactorA(name).Forward(x) * Diag(layer, name)) * layer.Settings(name).Scaling;

    /// <inheritdoc/>
    public void OnRemoving(LoraLayer layer, string name)
    {
        if (_original is null || _truncated is null) return;
        using var _ = Autograd.Autograd.NoGrad();
        var weight = layer.BaseLayer.Weight;
        // Untouched since the truncation: the original comes back bit for bit; otherwise the dropped part is added back.
        weight.CopyFrom(weight.Detach().ToDoubleArray().AsSpan().SequenceEqual(_truncated.ToDoubleArray())
            ? _original
            : weight.Detach() + (_original - _truncated));
    }

    /// <summary>
    /// The paper's auxiliary loss of one adapter on one layer, beta ||d||² + gamma (||BᵀB - I||_F + ||A Aᵀ - I||_F)
    /// (equations 9-11; PEFT's <c>_kasa_layer_regularization_loss</c>), for the training loop to add to its loss.
    /// </summary>
    public static Tensor RegularizationLoss(LoraLayer layer, string name, KasaConfig config)
    {
        var d = Diag(layer, name);
        var a = layer.LoraA(name);
        var b = layer.LoraB(name);
        var eye = Tensor.Eye(d.Size(0), dtype: d.DType).To(d.Device);
        static Tensor Frobenius(Tensor m) => (m * m).Sum().Sqrt();
        return (d * d).Sum() * config.Beta + (Frobenius(b.T % b - eye) + Frobenius(a % a.T - eye)) * config.Gamma;
    }
}

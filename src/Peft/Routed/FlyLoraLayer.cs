namespace Engine.Peft.Routed;

/// <summary>
/// A <see cref="Linear"/> with FlyLoRA adapters (arXiv 2510.08396; gfyddha/FlyLoRA <c>peft/src/peft/tuners/lora/layer.py</c>
/// <c>Linear.forward</c>; spec adapters-lowrank.md section 11): h = A drop(x) with the frozen sparse A
/// (<c>flylora_A</c> [r, in], <see cref="SparseRandomProjection"/>) computed without gradient, so nothing flows back
/// to x through the adapter (as the fork's <c>torch.no_grad()</c>); m = the top-k positions of h + d (signed, or
/// |h + d| with <c>topk_by_magnitude</c>); y = x W0^T + b0 + (alpha / r) B (m ⊙ h) with the trainable B
/// (<c>flylora_B</c> [out, r], init 0). The balance bias d (<c>flylora_topk_bias</c> [r], a buffer) only steers the
/// selection: after each forward in training mode d ← d + u sign(mean(c) − c), c_i = how many tokens chose rank i.
/// The fork updates d at every forward, evaluation included; the engine's choice is training mode only, so evaluating
/// a model does not change it. Not mergeable: the mask depends on the token.
/// </summary>
public sealed class FlyLoraLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public FlyLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The frozen sparse A [r, in].</summary>
    public Tensor A(string name) => Buffer("flylora_A", name);

    /// <summary>The trainable B [out, r].</summary>
    public Tensor B(string name) => Parameter("flylora_B", name);

    /// <summary>The balance bias d [r].</summary>
    public Tensor D(string name) => Buffer("flylora_topk_bias", name);

    FlyLoraConfig ConfigAs(string name) => (FlyLoraConfig)ConfigOf(name);

    /// <summary>The generator of A at <paramref name="path"/>: the seed and the path, not the adapter's name (task adapters of one seed share A).</summary>
    public static Generator GeneratorOfA(ulong? seed, string path) => AdapterContext.GeneratorFor(seed, path, "flylora_A");

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<FlyLoraConfig>();
        SparseRandomProjection.NonZerosPerRow(InFeatures, c.R, c.TopK, context.Path.External);
        return [Planned("flylora_A", null, c.R, InFeatures), Planned("flylora_B", null, OutFeatures, c.R), Planned("flylora_topk_bias", null, c.R)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<FlyLoraConfig>();
        var dtype = BaseLayer.Weight.DType;
        int p = SparseRandomProjection.NonZerosPerRow(InFeatures, c.R, c.TopK, context.Path.External);
        // A file replaces A; drawing it anyway keeps one path (the layers are small next to the model).
        AddBuffer("flylora_A", context.Name, SparseRandomProjection.Create(c.R, InFeatures, p, dtype, GeneratorOfA(c.Seed, context.Path.Engine)));
        AddParameter("flylora_B", context.Name, Tensor.Zeros([OutFeatures, c.R], dtype));
        AddBuffer("flylora_topk_bias", context.Name, Tensor.Zeros([c.R], dtype));
        AddDropout("lora_dropout", context.Name, c.LoraDropout, context.Generator);
    }

    /// <summary>
    /// The routing mask [..., r] of the projected input h [..., r]: ones at the top-k of h + d (or |h + d|), and, in
    /// training mode, the update of d from this call's choices.
    /// </summary>
    public Tensor Mask(string name, Tensor h)
    {
        var c = ConfigAs(name);
        var d = D(name);
        var scores = h.Detach() + d.To(h.DType);
        if (c.TopkByMagnitude) scores = scores.Abs();
        int r = c.R, k = c.TopK;
        // torch.topk's choice, largest first, the earlier rank first among equals (VB-LoRA's top-k).
        var picked = SharedBank.VbLoraTopK.Indices(scores, k).To(Device.Cpu).ToArray<long>();
        int rows = picked.Length / k;
        var mask = new double[rows * r];
        var counts = new double[r];
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < k; j++) { mask[t * r + picked[t * k + j]] = 1; counts[picked[t * k + j]]++; }
        if (Training && c.BiasU > 0 && rows > 0)
        {
            double mean = counts.Average();
            var step = counts.Select(ci => c.BiasU * Math.Sign(mean - ci)).ToArray();
            using var _ = Autograd.Autograd.NoGrad();
            d.CopyFrom(d + Tensor.FromArray(step, [r]).To(d.DType).To(d.Device));
        }
        return Tensor.FromArray(mask, h.Shape).To(h.DType).To(h.Device);
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            var h = LinearMap(Dropout(name, input), A(name)).Detach();
            result = result + LinearMap(h * Mask(name, h), B(name)) * ConfigAs(name).Scaling;
        }
        return result;
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "FlyLoRA: the top-k routing depends on each token, so the update is no fixed weight and cannot be merged";

    static Tensor LinearMap(Tensor x, Tensor weight)
    {
        var shape = x.Shape;
        int rows = shape[..^1].Aggregate(1, (a, b) => a * b);
        shape[^1] = weight.Size(0);
        return x.Reshape(rows, x.Size(-1)).MatMul(weight.T).Reshape(shape);
    }
}

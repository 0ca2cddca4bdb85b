namespace Engine.Peft.Elementwise;

/// <summary>
/// A <see cref="Linear"/> with Super-Tuning adapters (PEFT's <c>supertuning.Linear</c>): y = x (W0 + S)^T + b0 +
/// s B A dropout(x), where S [out, in] holds <c>supertuning_values</c> [k] at the flat positions
/// <c>supertuning_indices</c> [k] (int32; chosen as torch.topk(|W0|.flatten(), k) when the adapter is created) and,
/// with r set, <c>supertuning_lora_A.weight</c> [r, in], <c>supertuning_lora_B.weight</c> [out, r], s = alpha / r.
/// </summary>
public sealed class SupertuningLayer : SparseDeltaAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SupertuningLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trained values [k].</summary>
    public Tensor Values(string name) => Parameter("supertuning_values", name);

    /// <summary>Their flat positions in the weight [k] (Int32).</summary>
    public Tensor Indices(string name) => Buffer("supertuning_indices", name);

    int Entries(AdapterContext context)
    {
        int k = context.ConfigAs<SupertuningConfig>().TrainedEntries((long)OutFeatures * InFeatures);
        if (k < 1) throw new ArgumentException($"SupertuningLayer: sparsity {context.ConfigAs<SupertuningConfig>().Sparsity} leaves no trained entry of the {OutFeatures}x{InFeatures} weight at '{context.Path.External}'");
        return k;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SupertuningConfig>();
        int k = Entries(context);
        // Without save_precomputed_indices PEFT leaves the indices out of its files and picks them again at load.
        var plan = new List<PlannedTensor>
        {
            PlannedIntegers("supertuning_indices", null, (long)OutFeatures * InFeatures, k) with { RecomputedIfMissing = !c.SavePrecomputedIndices },
            Planned("supertuning_values", null, k),
        };
        if (c.R is { } r) plan.AddRange([Planned("supertuning_lora_A", "weight", r, InFeatures), Planned("supertuning_lora_B", "weight", OutFeatures, r)]);
        return plan;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SupertuningConfig>();
        int k = Entries(context);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        AddBuffer("supertuning_indices", context.Name, Tensor.FromArray(TopMagnitudes(BaseLayer.Weight, k, c.SelectTop)).To(BaseLayer.Weight.Device));
        AddParameter("supertuning_values", context.Name, c.InitWeights ? Tensor.Zeros([k], dtype) : Tensor.Randn([k], 0, 1, dtype, g));
        if (c.R is not { } r) return;
        AddDropout("supertuning_lora_dropout", context.Name, c.LoraDropout, g);
        AddModule("supertuning_lora_A", context.Name, new Linear(InFeatures, r, bias: false, g));
        var b = AddModule("supertuning_lora_B", context.Name, new Linear(r, OutFeatures, bias: false, g));
        // PEFT: A Kaiming-uniform (nn.Linear's own init), B = 0 (Kaiming-uniform too with init_weights = false).
        if (c.InitWeights) using (Autograd.Autograd.NoGrad()) b.Weight.CopyFrom(Tensor.Zeros(b.Weight.Shape, b.Weight.DType));
    }

    /// <summary>
    /// The flat positions of the <paramref name="k"/> entries of largest |w| (smallest when not <paramref name="top"/>),
    /// in torch.topk's order: by magnitude, ties by position (torch leaves the order of ties unspecified).
    /// </summary>
    public static int[] TopMagnitudes(Tensor weight, int k, bool top)
    {
        var w = weight.Detach().To(Device.Cpu).ToDoubleArray();
        var order = Enumerable.Range(0, w.Length).ToArray();
        Array.Sort(order, (i, j) =>
        {
            int byMagnitude = Math.Abs(w[i]).CompareTo(Math.Abs(w[j]));
            return byMagnitude != 0 ? (top ? -byMagnitude : byMagnitude) : i.CompareTo(j);
        });
        return order[..k];
    }

    /// <inheritdoc/>
    public override Tensor Positions(string name) => Indices(name);

    /// <inheritdoc/>
    public override Tensor SparseValues(string name) => Values(name);

    /// <summary>s B A [out, in], or null without a LoRA.</summary>
    public override Tensor? DensePart(string name)
    {
        var s = ConfigOf(name) as SupertuningConfig;
        return s?.R is null ? null : ModuleOf<Linear>("supertuning_lora_B", name).Weight % ModuleOf<Linear>("supertuning_lora_A", name).Weight * s.LoraScaling;
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            result = result + LinearMap(input, SparsePart(name));
            var c = (SupertuningConfig)ConfigOf(name);
            if (c.R is not null)
                result = result + ModuleOf<Linear>("supertuning_lora_B", name).Forward(ModuleOf<Linear>("supertuning_lora_A", name).Forward(Dropout(name, input))) * c.LoraScaling;
        }
        return result;
    }
}

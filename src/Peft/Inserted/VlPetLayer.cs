namespace Engine.Peft.Inserted;

/// <summary>
/// VL-PET's encoder-sublayer module on the output of a sublayer's output projection (HenryHZY/VL-PET
/// <c>src/my_transformers/modeling_bart.py::BartEncoderLayer.forward</c>; spec adapters-other.md §11). With
/// x2 = x W0ᵀ + b0 and x1 the sublayer's residual input (<see cref="SublayerInput"/>: BERT's post-LN residual, GPT-2's
/// stream before its pre-LN): y1 = x2 + (GELU_tanh(x2 W_downᵀ + b_down)) W_upᵀ + b_up, W_down [H, a/H, d] the heads
/// stacked (<c>adapter_multihead_down</c>; concatenating the heads' outputs is one d → a map), W_up [d, a]
/// (<c>adapter_multihead_up</c>), then the gate of <see cref="VlPetConfig.GateType"/> multiplies y1 (the whole sublayer
/// output, not only the adapter's update). The result replaces x2 before dropout and the residual add.
/// </summary>
public sealed class VlPetLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public VlPetLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The stacked down-projection heads: weight [H, a/H, d], bias [H, a/H].</summary>
    public TaskLinear Down(string name) => ModuleOf<TaskLinear>("adapter_multihead_down", name);

    /// <summary>The up-projection [d, a].</summary>
    public Linear Up(string name) => ModuleOf<Linear>("adapter_multihead_up", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VlPetConfig>();
        int d = OutFeatures, a = c.AdapterDownDim, h = c.EncoderAdapterMultiheadNumHead, g = c.AdapterGatingDownDim;
        List<PlannedTensor> plan = [Planned("adapter_multihead_down", "weight", h, a / h, d), Planned("adapter_multihead_down", "bias", h, a / h),
            Planned("adapter_multihead_up", "weight", d, a), Planned("adapter_multihead_up", "bias", d)];
        plan.AddRange(c.GateType switch
        {
            "large" => [Planned("adapter_gating_large_x_down", "weight", g, d), Planned("adapter_gating_large_x_down", "bias", g),
                Planned("adapter_gating_large_x_up", "weight", d, g), Planned("adapter_gating_large_x_up", "bias", d)],
            "middleX" => [Planned("adapter_gating_middle_xy_add", "weight", 1, d), Planned("adapter_gating_middle_xy_add", "bias", 1)],
            "middleY" => [Planned("adapter_gating_middle_ia3_add", null, d)],
            _ => [Planned("adapter_gating_small_xy_cat", "weight", 1, 2 * d), Planned("adapter_gating_small_xy_cat", "bias", 1)],
        });
        return plan;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VlPetConfig>();
        int d = OutFeatures, a = c.AdapterDownDim, h = c.EncoderAdapterMultiheadNumHead, g = c.AdapterGatingDownDim;
        var gen = context.Generator;
        var dtype = BaseLayer.Weight.DType;
        Linear Normal(string container, int inF, int outF)
        {
            var l = AddModule(container, context.Name, new Linear(inF, outF, true, gen));
            Init.Normal(l.Weight, 0, c.InitStd, gen);
            Init.Zeros(l.Bias!);
            return l;
        }
        AddModule("adapter_multihead_down", context.Name, new TaskLinear(d, a / h, h, c.InitStd, dtype, gen));
        Normal("adapter_multihead_up", a, d);
        switch (c.GateType)
        {
            case "large":
                Normal("adapter_gating_large_x_down", d, g);
                Normal("adapter_gating_large_x_up", g, d);
                break;
            case "middleX": Normal("adapter_gating_middle_xy_add", d, 1); break;
            case "middleY":
                var v = Tensor.Zeros([d], dtype);
                Init.Normal(v, 0, c.InitStd, gen);
                AddParameter("adapter_gating_middle_ia3_add", context.Name, v);
                break;
            default: Normal("adapter_gating_small_xy_cat", 2 * d, 1); break;
        }
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var y = BaseLayer.Forward(input);
        foreach (var name in adapters) y = Apply(name, y);
        return y;
    }

    /// <summary>The adapter and gate of <paramref name="name"/> on the sublayer output <paramref name="x2"/>.</summary>
    Tensor Apply(string name, Tensor x2)
    {
        var c = (VlPetConfig)ConfigOf(name);
        var down = Down(name);
        int a = c.AdapterDownDim, d = OutFeatures;
        var z = (x2.MatMul(down.Weight.Reshape(a, d).T) + down.Bias.Reshape(a)).Gelu(true);
        var y1 = x2 + Up(name).Forward(z);
        if (c.GateType == "middleY") return y1 + y1 * Parameter("adapter_gating_middle_ia3_add", name);
        var x1 = SublayerInput.Current
            ?? throw new InvalidOperationException($"VL-PET adapter '{name}' at '{PathOf(name).External}': the {c.GateType} gate reads the sublayer's input x1, " +
                "and this model publishes none (SublayerInput: GPT-2 and BERT blocks do); use gate_type middleY or a GPT-2 / BERT model");
        if (!x1.Shape.SequenceEqual(y1.Shape))
            throw new InvalidOperationException($"VL-PET adapter '{name}' at '{PathOf(name).External}': the sublayer input {Shapes.Format(x1.Shape)} does not match its output {Shapes.Format(y1.Shape)}; target a sublayer's output projection");
        switch (c.GateType)
        {
            case "large":
                var gate = ModuleOf<Linear>("adapter_gating_large_x_up", name).Forward(ModuleOf<Linear>("adapter_gating_large_x_down", name).Forward(x1).Gelu(true)).Sigmoid();
                return y1 * gate;
            case "middleX":
                return y1 * ModuleOf<Linear>("adapter_gating_middle_xy_add", name).Forward(x1 + y1).Sigmoid();
            default:
                var per = ModuleOf<Linear>("adapter_gating_small_xy_cat", name).Forward(Tensor.Concat([x1, y1], y1.Rank - 1)).Sigmoid();
                // torch.mean over the tokens: [B, T, 1] → [B, 1, 1] (every position of the forward, padding included, as in the reference).
                int[] tokens = y1.Rank >= 3 ? Enumerable.Range(1, y1.Rank - 2).ToArray() : [0];
                return y1 * per.Mean(tokens, keepDim: true);
        }
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "VL-PET's adapter is non-linear and its gate depends on the input; there is no weight to merge it into";
}

namespace Engine.Peft.SparseTuning;

/// <summary>
/// A <see cref="Linear"/> with SPT adapters (<see cref="SptConfig"/>; ziplab/SPT <c>model/vision_transformer_timm.py</c>,
/// spec adapters-other.md §6): per the allocation, either a LoRA, y += B A dropout(x) with <c>spt_lora_A</c> [r, in]
/// (Kaiming-uniform, a = √5) and <c>spt_lora_B</c> [out, r] (0) and no α/r scale (the reference's two bias-free
/// Linears), or a sparse delta (<see cref="SparseDelta"/>): <c>spt_values</c> [g] (0) at the flat positions
/// <c>spt_indices</c> [g] (Int64) of the weight's selected entries. Merge: W0 + B A, or W0 + scatter(Ω, v).
/// Deviation: the reference's DropPath(0.1) on the LoRA output is not applied.
/// </summary>
public sealed class SptLayer : SparseDeltaAdapterLayer
{
    readonly Dictionary<string, bool> _structured = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SptLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>True when adapter <paramref name="name"/> tunes this weight by LoRA.</summary>
    public bool IsStructured(string name) => _structured[name];

    /// <summary>A [r, in] (structured only).</summary>
    public Tensor A(string name) => Parameter("spt_lora_A", name);

    /// <summary>B [out, r] (structured only).</summary>
    public Tensor B(string name) => Parameter("spt_lora_B", name);

    /// <inheritdoc/>
    public override Tensor Positions(string name) => _structured[name] ? Tensor.Zeros([0], DType.Int64, BaseLayer.Weight.Device) : Buffer("spt_indices", name);

    /// <inheritdoc/>
    public override Tensor SparseValues(string name) => _structured[name] ? Tensor.Zeros([0], BaseLayer.Weight.DType, BaseLayer.Weight.Device) : Parameter("spt_values", name);

    /// <inheritdoc/>
    public override Tensor? DensePart(string name) => _structured[name] ? B(name) % A(name) : null;

    /// <inheritdoc/>
    public override Tensor DeltaWeight(string name) => _structured[name] ? DensePart(name)! : SparsePart(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) =>
        _structured[name] ? LinearMap(LinearMap(x, A(name)), B(name)) : LinearMap(x, SparsePart(name));

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SptConfig>();
        return c.IsStructured(context.Path)
            ? [Planned("spt_lora_A", null, c.LowRankDim, InFeatures), Planned("spt_lora_B", null, OutFeatures, c.LowRankDim)]
            : PlannedSparse("spt_indices", "spt_values", c.SparseCount(context.Path));
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SptConfig>();
        var dtype = BaseLayer.Weight.DType;
        var device = BaseLayer.Weight.Device;
        bool structured = c.IsStructured(context.Path);
        _structured[context.Name] = structured;
        if (structured)
        {
            AddDropout("spt_dropout", context.Name, c.LoraDropout, context.Generator);
            AddParameter("spt_lora_A", context.Name, KaimingInit.Uniform(c.LowRankDim, InFeatures, dtype, context.Generator).To(device));
            AddParameter("spt_lora_B", context.Name, Tensor.Zeros([OutFeatures, c.LowRankDim], dtype, device));
            return;
        }
        int g = c.SparseCount(context.Path);
        // A fresh adapter takes its positions from the calibration; a loaded one gets them from the file.
        var positions = context.Calibration is SptSensitivity.Share share ? share.Positions : new long[g];
        if (positions.Length != g) throw new ArgumentException($"SptLayer: the calibration gave {positions.Length} positions for '{context.Path.External}', the allocation {g}");
        AddDropout("spt_dropout", context.Name, 0, context.Generator);
        AddBuffer("spt_indices", context.Name, Tensor.FromArray(positions).To(device));
        AddParameter("spt_values", context.Name, Tensor.Zeros([g], dtype, device));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _structured.Remove(name);
}

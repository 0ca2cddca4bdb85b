namespace Engine.Peft.Multitask;

/// <summary>
/// A <see cref="Linear"/> with Poly adapters (PEFT's <c>poly.Linear</c>, poly/layer.py): skills A [q, s, in/q, r]
/// (<c>poly_lora_A</c>) and B [q, s, r, out/q] (<c>poly_lora_B</c>), q splits and s skills, and a router
/// (<c>poly_router.module_logits</c>). For example b with weights w_b [q, s] (<see cref="PolyRouter"/>), split q's
/// mixture Σ_s w_b[q,s] A[q,s] owns input rows q·in/q.. and Σ_s w_b[q,s] B[q,s] output columns q·out/q..; stacked they
/// give A_b [in, r] and B_b [r, out], and y = x W0^T + b0 + x A_b B_b / r. Init: A Kaiming-uniform (a = √5) on each
/// [r, in/q] then transposed, B zero (<c>init_weights</c>) or likewise random. Refuses to merge (the update depends on
/// the example's task). PEFT wraps only nn.Linear (for GPT-2: lm_head); the engine's GPT keeps every projection as a
/// Linear, so the engine also adapts GPT-2's Conv1D layers (an extension, same keys).
/// </summary>
public sealed class PolyLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public PolyLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The skills' A [n_splits, n_skills, in/n_splits, r].</summary>
    public Tensor A(string name) => Parameter("poly_lora_A", name);

    /// <summary>The skills' B [n_splits, n_skills, r, out/n_splits].</summary>
    public Tensor B(string name) => Parameter("poly_lora_B", name);

    /// <summary>The router of adapter <paramref name="name"/>.</summary>
    public PolyRouter Router(string name) => ModuleOf<PolyRouter>("poly_router", name);

    PolyConfig Checked(AdapterContext context)
    {
        var c = context.ConfigAs<PolyConfig>();
        if (InFeatures % c.NSplits != 0 || OutFeatures % c.NSplits != 0)
            throw new ArgumentException($"PolyLayer: n_splits {c.NSplits} must divide the input ({InFeatures}) and output ({OutFeatures}) widths of '{context.Path.External}'");
        return c;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = Checked(context);
        int q = c.NSplits, s = c.NSkills;
        return [Planned("poly_lora_A", null, q, s, InFeatures / q, c.R), Planned("poly_lora_B", null, q, s, c.R, OutFeatures / q),
            Planned("poly_router", "module_logits", c.NTasks, q * s)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = Checked(context);
        int q = c.NSplits, s = c.NSkills, r = c.R;
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        // PEFT's loop: each [rows, cols] block drawn as nn.Linear's weight, U(±1/sqrt(cols)), then stored transposed.
        Tensor Blocks(int rows, int cols) => Tensor.Stack(Enumerable.Range(0, q).Select(_ =>
            Tensor.Stack(Enumerable.Range(0, s).Select(_ => KaimingInit.Uniform(rows, cols, dtype, g).T.Contiguous()).ToArray())).ToArray());
        AddParameter("poly_lora_A", context.Name, Blocks(r, InFeatures / q));
        AddParameter("poly_lora_B", context.Name, c.InitWeights ? Tensor.Zeros([q, s, r, OutFeatures / q], dtype) : Blocks(OutFeatures / q, r));
        AddModule("poly_router", context.Name, new PolyRouter(c.NTasks, q, s, dtype, g));
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters) result = result + Contribution(name, input);
        return result;
    }

    /// <summary>x A_b B_b / r for each example b of <paramref name="x"/> [B, ..., in] (a [B, in] input is one position per example).</summary>
    Tensor Contribution(string name, Tensor x)
    {
        if (x.Rank < 2) throw new ArgumentException($"PolyLayer: the input needs a batch dimension [batch, ..., {InFeatures}], got {Shapes.Format(x.Shape)}");
        var c = (PolyConfig)ConfigOf(name);
        int batch = x.Size(0), q = c.NSplits, s = c.NSkills, r = c.R, d = InFeatures / q, o = OutFeatures / q;
        int positions = (int)(x.Numel / ((long)batch * InFeatures));
        var ids = TaskIds.Resolve(c, "Poly", name, batch);
        var w = Router(name).Weights(ids).To(x.DType).Permute(1, 0, 2);                                   // [q, B, s]
        var a = w.MatMul(A(name).Reshape(q, s, d * r)).Reshape(q, batch, d, r).Permute(1, 0, 2, 3).Reshape(batch, InFeatures, r);
        var b = w.MatMul(B(name).Reshape(q, s, r * o)).Reshape(q, batch, r, o).Permute(1, 2, 0, 3).Reshape(batch, r, OutFeatures);
        var y = x.Reshape(batch, positions, InFeatures).MatMul(a).MatMul(b) * (1.0 / r);
        var shape = x.Shape;
        shape[^1] = OutFeatures;
        return y.Reshape(shape);
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "Poly mixes its skills per example by the example's task; there is no single weight to merge";
}

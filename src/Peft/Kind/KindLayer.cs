using Engine.Peft.LowRank;

namespace Engine.Peft.Kind;

/// <summary>
/// A <see cref="Linear"/> with KIND adapters (arXiv 2408.07337, the engine's reading; spec adapters-lowrank.md section
/// 13; <see cref="KindConfig"/>): learngenes U_G [out, n_G] (<c>kind_learngene_U</c>), σ_G [n_G] (<c>kind_learngene_S</c>),
/// V_Gᵀ [n_G, in] (<c>kind_learngene_Vh</c>); tailors U_T, σ_T, V_Tᵀ likewise (<c>kind_tailor_*</c>, n_T = n_classes ·
/// n_tailors); the gate table G [n_classes, n_T] of zeros and ones (<c>kind_gates</c>, saved, never trained). For
/// example b of class c_b: y_b = x_b W_resᵀ + x_b V_G diag(σ_G) U_Gᵀ + x_b V_T diag(G[c_b] ⊙ σ_T) U_Tᵀ + b0.
/// Adding the adapter moves the top n_G + n_T components of W0 (<see cref="WeightSvd"/>) out of the base weight, which
/// keeps W_res (recomputed from W0 when a file is loaded: the residual does not depend on the SVD's signs); deleting
/// the adapter puts them back.
/// </summary>
public sealed class KindLayer : AdditiveAdapterLayer
{
    sealed record KindState(Tensor Original, Tensor Residual, Tensor Moved)
    {
        public int? MergedClass { get; set; }
    }

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public KindLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>U_G [out, n_G].</summary>
    public Tensor LearngeneU(string name) => Parameter("kind_learngene_U", name);

    /// <summary>σ_G [n_G].</summary>
    public Tensor LearngeneS(string name) => Parameter("kind_learngene_S", name);

    /// <summary>V_Gᵀ [n_G, in].</summary>
    public Tensor LearngeneVh(string name) => Parameter("kind_learngene_Vh", name);

    /// <summary>U_T [out, n_T].</summary>
    public Tensor TailorU(string name) => Parameter("kind_tailor_U", name);

    /// <summary>σ_T [n_T].</summary>
    public Tensor TailorS(string name) => Parameter("kind_tailor_S", name);

    /// <summary>V_Tᵀ [n_T, in].</summary>
    public Tensor TailorVh(string name) => Parameter("kind_tailor_Vh", name);

    /// <summary>The gate table [n_classes, n_T]: row c holds ones at the tailors of class c.</summary>
    public Tensor Gates(string name) => Buffer("kind_gates", name);

    KindConfig Checked(AdapterContext context)
    {
        var c = context.ConfigAs<KindConfig>();
        int k = c.NLearngenes + c.TailorComponents;
        if (k > Math.Min(InFeatures, OutFeatures))
            throw new ArgumentException($"KindLayer: n_learngenes + n_classes·n_tailors = {k} exceeds min(in, out) = {Math.Min(InFeatures, OutFeatures)} of '{context.Path.External}'");
        return c;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = Checked(context);
        int g = c.NLearngenes, t = c.TailorComponents;
        return [Planned("kind_learngene_U", null, OutFeatures, g), Planned("kind_learngene_S", null, g), Planned("kind_learngene_Vh", null, g, InFeatures),
            Planned("kind_tailor_U", null, OutFeatures, t), Planned("kind_tailor_S", null, t), Planned("kind_tailor_Vh", null, t, InFeatures),
            Planned("kind_gates", null, c.NClasses, t)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = Checked(context);
        var name = context.Name;
        int g = c.NLearngenes, t = c.TailorComponents, k = g + t;
        var weight = BaseLayer.Weight;
        var dtype = weight.DType;
        // The top k triplets of W0: the first g learngenes, then class c's tailors at g + c·n_tailors.. (the engine's choice).
        var (u, s, vh) = WeightSvd.Principal(weight, k);
        Tensor Place(Tensor v) => v.Contiguous().To(dtype).To(weight.Device);
        AddParameter("kind_learngene_U", name, Place(u.Narrow(1, 0, g)));
        AddParameter("kind_learngene_S", name, Place(s.Narrow(0, 0, g)));
        AddParameter("kind_learngene_Vh", name, Place(vh.Narrow(0, 0, g)));
        AddParameter("kind_tailor_U", name, Place(u.Narrow(1, g, t)));
        AddParameter("kind_tailor_S", name, Place(s.Narrow(0, g, t)));
        AddParameter("kind_tailor_Vh", name, Place(vh.Narrow(0, g, t)));
        var gates = new double[c.NClasses * t];
        for (int cls = 0; cls < c.NClasses; cls++)
            for (int j = cls * c.NTailors; j < (cls + 1) * c.NTailors; j++) gates[cls * t + j] = 1;
        AddBuffer("kind_gates", name, Place(Tensor.FromArray(gates, [c.NClasses, t])));
        // The k components leave the base weight: W_res = W0 − U_k diag(S_k) V_kᵀ (independent of the SVD's signs, so
        // a loaded file, whose factors replace these, sees the same residual).
        using var _ = Autograd.Autograd.NoGrad();
        var original = weight.Detach().Clone();
        var moved = (u * s.Unsqueeze(0)) % vh;
        weight.CopyFrom((weight.Detach().To(DType.Float64) - moved.To(weight.Device)).To(dtype));
        SetState(name, new KindState(original, weight.Detach().Clone(), moved));
    }

    /// <summary>Puts the components the adapter took out back into the base weight (exactly, when nothing else changed it).</summary>
    protected override void OnRemoving(string name)
    {
        if (!TryState<KindState>(name, out var st)) return;
        using var _ = Autograd.Autograd.NoGrad();
        var weight = BaseLayer.Weight;
        bool untouched = weight.Detach().To(Device.Cpu).ToDoubleArray().AsSpan().SequenceEqual(st.Residual.To(Device.Cpu).ToDoubleArray());
        weight.CopyFrom(untouched ? st.Original : (weight.Detach().To(DType.Float64) + st.Moved.To(weight.Device)).To(weight.DType));
    }

    /// <summary>
    /// The adapter's part of W for a gate vector <paramref name="gate"/> [n_T] (a row of the gate table, or all ones):
    /// U_G diag(σ_G) V_Gᵀ + U_T diag(gate ⊙ σ_T) V_Tᵀ [out, in].
    /// </summary>
    public Tensor FactorWeight(string name, Tensor gate) =>
        (LearngeneU(name) * LearngeneS(name).Unsqueeze(0)) % LearngeneVh(name) + (TailorU(name) * (TailorS(name) * gate).Unsqueeze(0)) % TailorVh(name);

    /// <summary>The adapter's part of W for class <paramref name="classId"/> (its row of the gate table).</summary>
    public Tensor ClassWeight(string name, int classId) => FactorWeight(name, Gates(name).Select(0, ClassCheck(name, classId)));

    /// <summary>The full product: every gate on (U_G diag(σ_G) V_Gᵀ + U_T diag(σ_T) V_Tᵀ).</summary>
    public Tensor FullProduct(string name) => FactorWeight(name, Tensor.Ones([TailorS(name).Size(0)], TailorS(name).DType, TailorS(name).Device));

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        if (x.Rank < 2) throw new ArgumentException($"KindLayer: the input needs a batch dimension [batch, ..., {InFeatures}], got {Shapes.Format(x.Shape)}");
        var c = (KindConfig)ConfigOf(name);
        int batch = x.Size(0), t = c.TailorComponents;
        int positions = (int)(x.Numel / ((long)batch * InFeatures));
        var ids = TaskIds.Resolve(c, "KIND", name, batch);
        var rows = x.Reshape(batch * positions, InFeatures);
        var genes = (rows.MatMul(LearngeneVh(name).T) * LearngeneS(name)).MatMul(LearngeneU(name).T);
        // Each example's gate row times σ_T: [B, 1, n_T].
        var gate = Gates(name).IndexSelect(0, Tensor.FromArray(ids.Select(i => (long)i).ToArray()).To(x.Device)).To(x.DType);
        var scaled = (gate * TailorS(name)).Unsqueeze(1);
        var tailors = (rows.MatMul(TailorVh(name).T).Reshape(batch, positions, t) * scaled).Reshape(batch * positions, t).MatMul(TailorU(name).T);
        var shape = x.Shape;
        shape[^1] = OutFeatures;
        return (genes + tailors).Reshape(shape);
    }

    /// <summary>The adapter's part of W for the one class in force (merge): the single class of the task scope, else default_task_id.</summary>
    public override Tensor DeltaWeight(string name) => ClassWeight(name, SingleClass(name) ?? throw new NotSupportedException($"KindLayer: adapter '{name}': {Refusal}"));

    const string Refusal = "KIND's weight depends on the example's class; merge one class: inside PeftModel.TaskScope(classId), or with default_task_id set";

    /// <summary>The class every example has now (a task scope with one class for all rows, else default_task_id), or null.</summary>
    int? SingleClass(string name)
    {
        var c = (KindConfig)ConfigOf(name);
        if (!TaskIds.InScope) return c.DefaultTaskId;
        int[] ids;
        if (TaskIds.Current is { } rows) ids = rows.Distinct().ToArray();
        else
            try { ids = TaskIds.Resolve(c, "KIND", name, 1); }
            catch (ArgumentException) { return null; }
        return ids.Length == 1 && ids[0] < c.NClasses ? ids[0] : null;
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => SingleClass(name) is not null;

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => IsMergeable(name) ? null : Refusal;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        int cls = SingleClass(name) ?? throw new NotSupportedException($"KindLayer: adapter '{name}': {Refusal}");
        State<KindState>(name).MergedClass = cls;
        return (weight + ClassWeight(name, cls).Detach(), bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var st = State<KindState>(name);
        int cls = st.MergedClass ?? throw new InvalidOperationException($"KindLayer: adapter '{name}' is not merged");
        st.MergedClass = null;
        return (weight - ClassWeight(name, cls).Detach(), bias);
    }

    /// <summary>
    /// KIND's transfer to a new class (paper section 3: learngenes are kept, tailors start afresh): the tailors of class
    /// <paramref name="classId"/> (its ones in the gate table) get random unit singular vectors and σ = 0, so the class
    /// starts from W_res plus the learngenes; the learngenes and the other classes' tailors are unchanged. The
    /// engine's reading of "randomly initialised" (σ = 0 keeps the start continuous; the vectors still train).
    /// </summary>
    public void ReinitialiseTailors(string name, int classId, Generator generator)
    {
        var gates = Gates(name).Select(0, ClassCheck(name, classId)).To(Device.Cpu).ToDoubleArray();
        using var _ = Autograd.Autograd.NoGrad();
        var (u, s, vh) = (TailorU(name), TailorS(name), TailorVh(name));
        var uh = u.Detach().To(Device.Cpu).To(DType.Float64).ToDoubleArray();
        var sh = s.Detach().To(Device.Cpu).To(DType.Float64).ToDoubleArray();
        var vhh = vh.Detach().To(Device.Cpu).To(DType.Float64).ToDoubleArray();
        int t = sh.Length;
        for (int j = 0; j < t; j++)
        {
            if (gates[j] == 0) continue;
            var nu = Unit(Tensor.Randn([OutFeatures], 0, 1, DType.Float64, generator).ToDoubleArray());
            var nv = Unit(Tensor.Randn([InFeatures], 0, 1, DType.Float64, generator).ToDoubleArray());
            for (int i = 0; i < OutFeatures; i++) uh[i * t + j] = nu[i];
            for (int i = 0; i < InFeatures; i++) vhh[j * InFeatures + i] = nv[i];
            sh[j] = 0;
        }
        u.CopyFrom(Tensor.FromArray(uh, [OutFeatures, t]).To(u.DType).To(u.Device));
        s.CopyFrom(Tensor.FromArray(sh, [t]).To(s.DType).To(s.Device));
        vh.CopyFrom(Tensor.FromArray(vhh, [t, InFeatures]).To(vh.DType).To(vh.Device));
    }

    /// <summary>
    /// <see cref="ReinitialiseTailors(string, int, Generator)"/> on every KIND layer of adapter <paramref name="adapter"/>:
    /// the model-level transfer of its learngenes to a new class <paramref name="classId"/>.
    /// </summary>
    public static void TransferToNewClass(PeftModel model, string adapter, int classId, ulong seed)
    {
        var layers = model.AdapterLayers().Select(l => l.Layer).OfType<KindLayer>().Where(l => l.AdapterNames.Contains(adapter)).ToList();
        if (layers.Count == 0) throw new ArgumentException($"KindLayer.TransferToNewClass: adapter '{adapter}' has no KIND layers");
        var generator = new Generator(seed);
        foreach (var layer in layers) layer.ReinitialiseTailors(adapter, classId, generator);
    }

    int ClassCheck(string name, int classId)
    {
        var c = (KindConfig)ConfigOf(name);
        if (classId < 0 || classId >= c.NClasses) throw new ArgumentException($"KindLayer: class {classId} is not in [0, n_classes = {c.NClasses})");
        return classId;
    }

    static double[] Unit(double[] v)
    {
        double n = Math.Sqrt(v.Sum(a => a * a));
        return v.Select(a => a / n).ToArray();
    }
}

namespace Engine.Peft.RandomBasis;

/// <summary>
/// A <see cref="Linear"/> with NOLA adapters (arXiv 2310.02556, section 3; reference <c>gpt/src/model_nola.py</c>
/// <c>LoRA</c> with <c>use_nola</c>): trainable coefficients α [k] (<c>nola_alpha</c>) and β [k] (<c>nola_beta</c>), both
/// zero at the start, mix the layer's frozen bases (<see cref="NolaBases"/>): A = A0 + Σ_i α_i P_i [r, in],
/// B = Σ_j β_j Q_j [out, r] (the reference's B0 is zero), ΔW = (lora_alpha / r) B A. A and B are materialised as a
/// product of the coefficients with the flattened basis stack, so autograd gives ∂L/∂α_i = ⟨∂L/∂A, P_i⟩_F, the
/// reference's hand-written backward. The bases are regenerated from the seed, never registered as tensors of the
/// layer: they are not saved, and they follow the coefficients to another device or dtype on first use.
/// </summary>
public sealed class NolaLayer : AdditiveAdapterLayer
{
    sealed class Settings(double scale, ulong seed, int r, int k, string path, NolaBases bases)
    {
        public double Scale { get; } = scale;
        public ulong Seed { get; } = seed;
        public int R { get; } = r;
        public int K { get; } = k;
        public string Path { get; } = path;
        public NolaBases Bases { get; set; } = bases;
    }

    readonly Lock _lock = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public NolaLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The coefficients α [k] of A's bases.</summary>
    public Tensor Alpha(string name) => Parameter("nola_alpha", name);

    /// <summary>The coefficients β [k] of B's bases.</summary>
    public Tensor Beta(string name) => Parameter("nola_beta", name);

    /// <summary>The frozen tensors of adapter <paramref name="name"/> (A0, P, Q), on the coefficients' device and dtype.</summary>
    public NolaBases Bases(string name)
    {
        var s = State<Settings>(name);
        var alpha = Alpha(name);
        lock (_lock)
        {
            if (s.Bases.P.DType != alpha.DType)
                s.Bases = NolaBases.Generate(s.Seed, s.Path, s.R, s.K, InFeatures, OutFeatures, alpha.DType);
            if (s.Bases.P.Device != alpha.Device) s.Bases = s.Bases.To(alpha.Device);
            return s.Bases;
        }
    }

    /// <summary>A = A0 + Σ_i α_i P_i [r, in].</summary>
    public Tensor A(string name)
    {
        var b = Bases(name);
        int k = b.P.Size(0), r = b.P.Size(1);
        return b.A0 + Alpha(name).Reshape(1, k).MatMul(b.P.Reshape(k, r * InFeatures)).Reshape(r, InFeatures);
    }

    /// <summary>B = Σ_j β_j Q_j [out, r].</summary>
    public Tensor B(string name)
    {
        var b = Bases(name);
        int k = b.Q.Size(0), r = b.Q.Size(2);
        return Beta(name).Reshape(1, k).MatMul(b.Q.Reshape(k, OutFeatures * r)).Reshape(OutFeatures, r);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<NolaConfig>();
        return [Planned("nola_alpha", null, c.NolaNumBasis), Planned("nola_beta", null, c.NolaNumBasis)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<NolaConfig>();
        var dtype = BaseLayer.Weight.DType;
        var bases = NolaBases.Generate(c.NolaSeed, context.Path.External, c.R, c.NolaNumBasis, InFeatures, OutFeatures, dtype);
        SetState(context.Name, new Settings(c.LoraAlpha / c.R, c.NolaSeed, c.R, c.NolaNumBasis, context.Path.External, bases));
        AddDropout("lora_dropout", context.Name, c.LoraDropout, context.Generator);
        AddParameter("nola_alpha", context.Name, Tensor.Zeros([c.NolaNumBasis], dtype));
        AddParameter("nola_beta", context.Name, Tensor.Zeros([c.NolaNumBasis], dtype));
    }

    /// <summary>(lora_alpha / r) B A [out, in].</summary>
    public override Tensor DeltaWeight(string name) => (B(name) % A(name)) * State<Settings>(name).Scale;

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, A(name)), B(name)) * State<Settings>(name).Scale;
}

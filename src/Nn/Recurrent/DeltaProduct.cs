namespace Engine.Nn;

/// <summary>
/// DeltaProduct token mixer (Siems et al. 2025), Gated DeltaProduct with <see cref="DeltaProductOptions.ForgetGate"/>,
/// and DeltaNet (Yang et al. 2024) with <c>Householder = 1</c>. Per token x_t, for each head:
/// q = L2(SiLU(conv(W_q x))) / sqrt(d_k), n_h keys k_j = L2(SiLU(conv(W_k x))), n_h values v_j = SiLU(conv(W_v x)),
/// n_h betas beta_j = sigmoid(W_b x) (times 2 for negative eigenvalues, Grazzi et al. 2024), and with the gate
/// g = -exp(A_log) softplus(W_a x + dt_bias); the state follows <see cref="DeltaRule"/>; the output
/// o_t = S_t^T q_t is RMS-normalised per head, multiplied by SiLU(W_g x) and projected back to the model width.
/// Member names follow flash-linear-attention's <c>GatedDeltaProduct</c> (<c>q_proj</c>, <c>k_conv1d</c>, <c>A_log</c>, ...),
/// with the same layouts (keys and values of step j are the j-th block of their projection).
/// <code>var mixer = new DeltaProduct(new DeltaProductOptions(64, 4, Householder: 2, NegativeEigenvalues: true));</code>
/// </summary>
public sealed partial class DeltaProduct : Module, ITokenMixer
{
    const double L2Eps = 1e-6;

    /// <summary>A layer with fresh parameters (projections as torch.nn.Linear without bias).</summary>
    public DeltaProduct(DeltaProductOptions options, Generator? generator = null)
    {
        Options = options;
        if (options.DModel <= 0 || options.Heads <= 0)
            throw new ArgumentException($"DeltaProduct: width ({options.DModel}) and heads ({options.Heads}) must be positive");
        if (options.HeadDim is null && options.DModel % options.Heads != 0)
            throw new ArgumentException($"DeltaProduct: width {options.DModel} is not divisible by {options.Heads} heads; give HeadDim");
        if (options.Householder < 1) throw new ArgumentException($"DeltaProduct: Householder steps per token must be >= 1, got {options.Householder}");
        if (options.ConvSize < 0) throw new ArgumentException($"DeltaProduct: the convolution size must be >= 0, got {options.ConvSize}");
        if (options.ChunkSize < 1) throw new ArgumentException($"DeltaProduct: the chunk size must be >= 1, got {options.ChunkSize}");
        HeadDim = options.HeadDim ?? options.DModel / options.Heads;
        ValueDim = options.ValueDim ?? HeadDim;
        if (HeadDim <= 0 || ValueDim <= 0) throw new ArgumentException($"DeltaProduct: head widths must be positive, got d_k = {HeadDim}, d_v = {ValueDim}");
        int c = options.DModel, h = options.Heads, n = options.Householder;

        RegisterModule("q_proj", new Linear(c, h * HeadDim, bias: false, generator));
        RegisterModule("k_proj", new Linear(c, n * h * HeadDim, bias: false, generator));
        RegisterModule("v_proj", new Linear(c, n * h * ValueDim, bias: false, generator));
        RegisterModule("b_proj", new Linear(c, n * h, bias: false, generator));
        if (options.ForgetGate)
        {
            RegisterModule("a_proj", new Linear(c, h, bias: false, generator));
            // As Mamba-2 and Gated DeltaNet: A ~ U[1, 16] (decay rates), dt = softplus(dt_bias) ~ logU[1e-3, 1e-1] at init.
            var a = Tensor.Rand([h], 1, 16, DType.Float64, generator).ToArray<double>();
            RegisterParameter("A_log", Tensor.FromArray(a.Select(x => (float)Math.Log(x)).ToArray()));
            var u = Tensor.Rand([h], 0, 1, DType.Float64, generator).ToArray<double>();
            var dtBias = u.Select(r => Math.Max(Math.Exp(Math.Log(1e-3) + r * (Math.Log(1e-1) - Math.Log(1e-3))), 1e-4))
                .Select(dt => (float)(dt + Math.Log(-double.ExpM1(-dt)))).ToArray();  // the inverse of softplus
            RegisterParameter("dt_bias", Tensor.FromArray(dtBias));
        }
        if (options.ConvSize > 0)
        {
            RegisterModule("q_conv1d", new ShortConvolution(h * HeadDim, options.ConvSize, generator));
            RegisterModule("k_conv1d", new ShortConvolution(n * h * HeadDim, options.ConvSize, generator));
            RegisterModule("v_conv1d", new ShortConvolution(n * h * ValueDim, options.ConvSize, generator));
        }
        if (options.OutputGate) RegisterModule("g_proj", new Linear(c, h * ValueDim, bias: false, generator));
        RegisterModule("o_norm", new RMSNorm(ValueDim, options.NormEps));
        RegisterModule("o_proj", new Linear(h * ValueDim, c, bias: false, generator));
    }

    /// <summary>The options the layer was built with.</summary>
    public DeltaProductOptions Options { get; }

    /// <summary>d_k: key and query width per head.</summary>
    public int HeadDim { get; }

    /// <summary>d_v: value width per head.</summary>
    public int ValueDim { get; }

    /// <summary>Queries: C to H d_k.</summary>
    public Linear QProj => Unwrapped<Linear>("q_proj");

    /// <summary>Keys: C to n_h H d_k, step j's keys in the j-th block.</summary>
    public Linear KProj => Unwrapped<Linear>("k_proj");

    /// <summary>Values: C to n_h H d_v, step j's values in the j-th block.</summary>
    public Linear VProj => Unwrapped<Linear>("v_proj");

    /// <summary>Betas before the sigmoid: C to n_h H, step j's in the j-th block.</summary>
    public Linear BProj => Unwrapped<Linear>("b_proj");

    /// <summary>The gate's input projection, or null without <see cref="DeltaProductOptions.ForgetGate"/>.</summary>
    public Linear? AProj => Options.ForgetGate ? Unwrapped<Linear>("a_proj") : null;

    /// <summary>[H]: log of the decay rates A of the gate, or null.</summary>
    public Tensor? ALog => FindParameter("A_log");

    /// <summary>[H]: bias of the gate's step size, or null.</summary>
    public Tensor? DtBias => FindParameter("dt_bias");

    /// <summary>Short convolution on the query projection, or null when <see cref="DeltaProductOptions.ConvSize"/> is 0.</summary>
    public ShortConvolution? QConv => Options.ConvSize > 0 ? Unwrapped<ShortConvolution>("q_conv1d") : null;

    /// <summary>Short convolution on the key projection, or null.</summary>
    public ShortConvolution? KConv => Options.ConvSize > 0 ? Unwrapped<ShortConvolution>("k_conv1d") : null;

    /// <summary>Short convolution on the value projection, or null.</summary>
    public ShortConvolution? VConv => Options.ConvSize > 0 ? Unwrapped<ShortConvolution>("v_conv1d") : null;

    /// <summary>The output gate's projection, or null without <see cref="DeltaProductOptions.OutputGate"/>.</summary>
    public Linear? GProj => Options.OutputGate ? Unwrapped<Linear>("g_proj") : null;

    /// <summary>Per-head RMSNorm of the outputs (one weight of width d_v shared by the heads).</summary>
    public RMSNorm ONorm => Unwrapped<RMSNorm>("o_norm");

    /// <summary>Output projection: H d_v to C.</summary>
    public Linear OProj => Unwrapped<Linear>("o_proj");

    /// <summary>x [B, T, C] to [B, T, C], computed in <see cref="DeltaProductOptions.Mode"/>.</summary>
    public override Tensor Forward(Tensor x) => Forward(x, null);

    /// <summary>
    /// x [B, T, C] to [B, T, C], continuing from <paramref name="state"/> (made by <see cref="InitialState"/>) when given,
    /// and leaving the state after x in it (a prompt before <see cref="Step"/>).
    /// </summary>
    public Tensor Forward(Tensor x, DeltaProductState? state) => Forward(x, state, Options.Mode);

    /// <summary>
    /// One generation step: x_t [B, C] to y_t [B, C], by the recurrent form, reading and updating
    /// <paramref name="state"/> (the delta-rule memory and the convolution histories). For generation, call it inside
    /// <c>Autograd.NoGrad()</c>, or the state keeps the graph of every step before it.
    /// </summary>
    public Tensor Step(Tensor x, DeltaProductState state)
    {
        if (x.Rank != 2 || x.Size(1) != Options.DModel)
            throw new ArgumentException($"DeltaProduct.Step: expects [batch, {Options.DModel}], got {Shapes.Format(x.Shape)}");
        return Forward(x.Unsqueeze(1), state, DeltaRuleMode.Recurrent).Squeeze(1);
    }

    /// <summary>The state at the start of a sequence: zero memory and zero convolution histories, for <paramref name="batch"/> sequences.</summary>
    public DeltaProductState InitialState(int batch)
    {
        var dtype = QProj.Weight.DType;
        Tensor? History(ShortConvolution? conv) => conv is null ? null : Tensor.Zeros([batch, conv.KernelSize - 1, conv.Channels], dtype);
        return new DeltaProductState(Tensor.Zeros([batch, Options.Heads, HeadDim, ValueDim], dtype), History(QConv), History(KConv), History(VConv));
    }

    Tensor Forward(Tensor x, DeltaProductState? state, DeltaRuleMode mode)
    {
        if (x.Rank != 3 || x.Size(2) != Options.DModel)
            throw new ArgumentException($"DeltaProduct: expects [batch, time, {Options.DModel}], got {Shapes.Format(x.Shape)}");
        int b = x.Size(0), t = x.Size(1), h = Options.Heads, n = Options.Householder, dk = HeadDim, dv = ValueDim;
        if (state is not null && state.Memory.Size(0) != b)
            throw new ArgumentException($"DeltaProduct: the state holds {state.Memory.Size(0)} sequences, the input {b}");

        var q = Child("q_proj").Forward(x);
        var k = Child("k_proj").Forward(x);
        var v = Child("v_proj").Forward(x);
        Tensor? convQ = null, convK = null, convV = null;
        if (Options.ConvSize > 0)
        {
            // The convolutions take a history as well as the input, so they are called by type, not through Child.
            (q, convQ) = QConv!.Forward(q, state?.ConvQ);
            (k, convK) = KConv!.Forward(k, state?.ConvK);
            (v, convV) = VConv!.Forward(v, state?.ConvV);
        }
        // SiLU after the short convolution, then unit-norm keys (and queries) so each Householder factor
        // I - beta k k^T has eigenvalues 1 and 1 - beta (the DeltaNet architecture of Yang et al. 2024).
        q = L2Normalize(q.Silu().Reshape(b, t, h, dk)) * (1 / Math.Sqrt(dk));
        k = L2Normalize(k.Silu().Reshape(b, t, n, h, dk));
        v = v.Silu().Reshape(b, t, n, h, dv);
        var beta = Child("b_proj").Forward(x).Sigmoid();
        if (Options.NegativeEigenvalues) beta = beta * 2;

        // The gated delta rule (Yang, Kautz, Hatamizadeh 2024) with Mamba-2's parameterisation: g = log alpha = -exp(A_log) softplus(W_a x + dt_bias) <= 0.
        Tensor? logAlpha = null;
        if (Options.ForgetGate)
            logAlpha = (-ALog!.Exp() * (Child("a_proj").Forward(x) + DtBias!).Softplus()).Permute(0, 2, 1);

        var qh = q.Permute(0, 2, 1, 3);
        var kh = k.Permute(0, 3, 1, 2, 4);
        var vh = v.Permute(0, 3, 1, 2, 4);
        var bh = beta.Reshape(b, t, n, h).Permute(0, 3, 1, 2);
        var (o, memory) = mode == DeltaRuleMode.Chunked
            ? DeltaRule.Chunked(qh, kh, vh, bh, logAlpha, state?.Memory, Options.ChunkSize)
            : DeltaRule.Recurrent(qh, kh, vh, bh, logAlpha, state?.Memory);

        var y = Child("o_norm").Forward(o.Permute(0, 2, 1, 3));
        if (Options.OutputGate) y = y * Child("g_proj").Forward(x).Reshape(b, t, h, dv).Silu();
        y = Child("o_proj").Forward(y.Reshape(b, t, h * dv));

        if (state is not null)
        {
            state.Memory = memory;
            state.ConvQ = convQ;
            state.ConvK = convK;
            state.ConvV = convV;
            state.Position += t;
        }
        return y;
    }

    // x / sqrt(sum x^2 + eps) over the last dimension, as flash-linear-attention's l2norm.
    static Tensor L2Normalize(Tensor x) => x * (x.Square().Sum(-1, keepDim: true) + L2Eps).Rsqrt();
}

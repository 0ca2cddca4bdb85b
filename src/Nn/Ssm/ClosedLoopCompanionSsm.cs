namespace Engine.Nn;

/// <summary>
/// The closed-loop companion SSM, SpaceTime's decoder (Zhang et al. 2023, section 3.2; reference
/// <c>model/ssm/closed_loop/companion.py</c>; spec seeds-remaining §3). Per channel h, with A = S + a e_dᵀ:
/// the lag states x_n = Σ_{j&lt;n} A^{n-1-j} b u_j over the lag window u_0..u_{L-1} (through the Krylov sequence of
/// (A, b)), then the closed loop A_BK = A + b kᵀ: x_{L+i} = A_BK^i x_L, y_i = cᵀ x_{L+i} (the forecast) and
/// û_i = kᵀ x_{L+i} (the layer's prediction of its next input, which the loop feeds back: x ← A x + b (kᵀ x)).
/// The forecast needs only the lag window, for any horizon.
/// Normalisation: one convention everywhere, a L1-normalised (when its norm is not ~0) in A for the lag states, the
/// open-loop outputs and A_BK alike, and b, c, k used as stored. (The released code mixes conventions: one version
/// L1-normalises the whole matrix A + b kᵀ row by row, another normalises neither.)
/// Parameters <c>a</c>, <c>b</c>, <c>c</c>, <c>k</c> [H, d]. No skip (as the reference decoder).
/// <code>var decoder = new ClosedLoopCompanionSsm(8, 16); var f = decoder.Forward(u, horizon: 32); // f.Forecast [B, 32, 8]</code>
/// </summary>
public sealed class ClosedLoopCompanionSsm : Module
{
    /// <summary>
    /// A decoder of <paramref name="channels"/> kernels with state size <paramref name="stateSize"/>; a ~ N(0, 1),
    /// b, c ~ U(-1/√d, 1/√d) as <see cref="CompanionSsm"/>, k ~ N(0, 1) scaled by 1/d (the reference draws it normal and
    /// L1-normalises it; 1/d keeps A + b kᵀ near A at the start).
    /// </summary>
    public ClosedLoopCompanionSsm(int channels, int stateSize = 64, bool normalizeA = true, Generator? generator = null)
    {
        if (channels < 1) throw new ArgumentException($"ClosedLoopCompanionSsm: needs at least one channel, got {channels}");
        if (stateSize < 1) throw new ArgumentException($"ClosedLoopCompanionSsm: state size d must be at least 1, got {stateSize}");
        Channels = channels;
        StateSize = stateSize;
        NormalizeA = normalizeA;
        double bound = 1 / Math.Sqrt(stateSize);
        Init.Normal(RegisterParameter("a", Tensor.Zeros(channels, stateSize)), 0, 1, generator);
        Init.Uniform(RegisterParameter("b", Tensor.Zeros(channels, stateSize)), -bound, bound, generator);
        Init.Uniform(RegisterParameter("c", Tensor.Zeros(channels, stateSize)), -bound, bound, generator);
        Init.Normal(RegisterParameter("k", Tensor.Zeros(channels, stateSize)), 0, 1.0 / stateSize, generator);
    }

    /// <summary>H, the number of independent kernels.</summary>
    public int Channels { get; }

    /// <summary>d, the state size.</summary>
    public int StateSize { get; }

    /// <summary>True: A uses a / ||a||_1 (when ||a||_1 is not ~0) everywhere.</summary>
    public bool NormalizeA { get; }

    /// <summary>The last columns a [H, d] as stored.</summary>
    public Tensor A => GetParameter("a");

    /// <summary>The input vectors b [H, d].</summary>
    public Tensor B => GetParameter("b");

    /// <summary>The output vectors c [H, d].</summary>
    public Tensor C => GetParameter("c");

    /// <summary>The feedback vectors k [H, d]: û = kᵀ x.</summary>
    public Tensor K => GetParameter("k");

    /// <summary>The last column A uses.</summary>
    public Tensor EffectiveA => NormalizeA ? CompanionKernel.NormalizeL1(A) : A;

    /// <summary>The companion matrices A [H, d, d].</summary>
    public Tensor OpenLoopMatrix() => CompanionKernel.Matrix(EffectiveA);

    /// <summary>The closed-loop matrices A + b kᵀ [H, d, d].</summary>
    public Tensor ClosedLoopMatrix() => OpenLoopMatrix() + B.Unsqueeze(-1) * K.Unsqueeze(-2);

    /// <summary>Not defined without a horizon: use <see cref="Forward(Tensor, int)"/>.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new NotSupportedException("ClosedLoopCompanionSsm: call Forward(u, horizon), which returns a ClosedLoopForecast");

    /// <summary>The lag window u [B, L, H] to the forecast over <paramref name="horizon"/> positions and the open-loop outputs.</summary>
    public ClosedLoopForecast Forward(Tensor u, int horizon)
    {
        if (u.Rank != 3 || u.Size(2) != Channels || u.Size(1) < 1)
            throw new ArgumentException($"ClosedLoopCompanionSsm: expects a lag window [batch, length >= 1, {Channels}], got {Shapes.Format(u.Shape)}");
        if (horizon < 1) throw new ArgumentException($"ClosedLoopCompanionSsm: horizon must be at least 1, got {horizon}");
        int batch = u.Size(0), lag = u.Size(1);
        var a = OpenLoopMatrix();
        var krylov = CompanionKernel.Krylov(a, B.Unsqueeze(-1), lag).Squeeze(-1);   // [H, L, d]: A^l b
        var signal = u.Transpose(1, 2);                                              // [B, H, L]
        // Open loop over the lag: y_t = Σ_{j<=t} cᵀ A^{t-j} b u_j = cᵀ x_{t+1}.
        var openLoop = S4D.FftConvolution(signal, (krylov * C.Unsqueeze(1)).Sum(-1)).Transpose(1, 2);
        // x_L = Σ_j A^{L-1-j} b u_j = Σ_l (A^l b) u_{L-1-l}: [H, d, L] @ [H, L, B].
        var reversed = u.Flip(1).Permute(2, 1, 0);                                   // [H, L, B]
        var lastState = krylov.Transpose(1, 2).MatMul(reversed);                     // [H, d, B]
        // Closed loop: y_i = cᵀ (A + b kᵀ)^i x_L and û_i = kᵀ (A + b kᵀ)^i x_L. The row vectors cᵀ A_BK^i and kᵀ A_BK^i
        // (the Krylov sequence of A_BKᵀ from c and k) do not depend on the batch, so they are computed once.
        var rows = CompanionKernel.Krylov(ClosedLoopMatrix().Transpose(1, 2), Tensor.Stack([C, K], -1), horizon); // [H, T, d, 2]
        var forecast = rows.Select(-1, 0).MatMul(lastState).Permute(2, 1, 0);       // [B, T, H]
        var predictedInputs = rows.Select(-1, 1).MatMul(lastState).Permute(2, 1, 0);
        return new ClosedLoopForecast(forecast, predictedInputs, openLoop, lastState.Permute(2, 0, 1));
    }

    /// <summary>
    /// The open-loop outputs y_t = cᵀ x_{t+1} = Σ_{j&lt;=t} cᵀ A^{t-j} b u_j over a whole input u [B, L, H] (no feedback):
    /// with zeros appended to the lag window, the "zero-padding" forecast the closed loop is compared against.
    /// </summary>
    public Tensor OpenLoop(Tensor u)
    {
        if (u.Rank != 3 || u.Size(2) != Channels || u.Size(1) < 1)
            throw new ArgumentException($"ClosedLoopCompanionSsm.OpenLoop: expects [batch, length >= 1, {Channels}], got {Shapes.Format(u.Shape)}");
        return S4D.FftConvolution(u.Transpose(1, 2), CompanionKernel.Woodbury(EffectiveA, B, C, u.Size(1))).Transpose(1, 2);
    }

}

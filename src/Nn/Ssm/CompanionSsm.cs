namespace Engine.Nn;

/// <summary>
/// The open-loop companion state-space layer of SpaceTime (Zhang et al. 2023, section 3.1; reference
/// HazyResearch/spacetime <c>model/ssm/companion.py</c>): per channel h an independent discrete system
/// x_{t+1} = A x_t + b u_t, y_t = cᵀ x_{t+1} (+ D u_t), A = S + a e_dᵀ a companion matrix (down-shift S plus a learnable
/// last column a). Unlike S4D's diagonal A it can be nilpotent (a = 0: a finite impulse response) and can hold any
/// characteristic polynomial, so an AR(p) process is exactly a companion system with a = the AR coefficients
/// (see <see cref="ArCoefficientsAsLastColumn"/>). Training computes y as the causal FFT convolution of u with
/// K_l = cᵀ A^l b (<see cref="S4D.FftConvolution"/>). Parameters: <c>a</c>, <c>b</c>, <c>c</c> [H, d] and, with a skip,
/// <c>D</c> [H]. Input and output [B, L, H].
/// <code>var ssm = new CompanionSsm(channels: 8, stateSize: 16); var y = ssm.Forward(u); // [B, L, 8]</code>
/// </summary>
public sealed class CompanionSsm : Module
{
    /// <summary>
    /// A layer of <paramref name="channels"/> kernels with state size <paramref name="stateSize"/> d. a ~ N(0, 1)
    /// (L1-normalised in use when <paramref name="normalizeA"/>), b, c ~ U(-1/√d, 1/√d) (the reference's "xavier"
    /// initialisation), D = 1 when <paramref name="skip"/> (the reference's skip connection, off by default).
    /// </summary>
    public CompanionSsm(int channels, int stateSize = 64, bool skip = false, bool normalizeA = true,
        CompanionKernelMethod kernelMethod = CompanionKernelMethod.Woodbury, Generator? generator = null)
    {
        if (channels < 1) throw new ArgumentException($"CompanionSsm: needs at least one channel, got {channels}");
        if (stateSize < 1) throw new ArgumentException($"CompanionSsm: state size d must be at least 1, got {stateSize}");
        Channels = channels;
        StateSize = stateSize;
        NormalizeA = normalizeA;
        KernelMethod = kernelMethod;
        double bound = 1 / Math.Sqrt(stateSize);
        Init.Normal(RegisterParameter("a", Tensor.Zeros(channels, stateSize)), 0, 1, generator);
        Init.Uniform(RegisterParameter("b", Tensor.Zeros(channels, stateSize)), -bound, bound, generator);
        Init.Uniform(RegisterParameter("c", Tensor.Zeros(channels, stateSize)), -bound, bound, generator);
        if (skip) Init.Ones(RegisterParameter("D", Tensor.Zeros(channels)));
    }

    /// <summary>H, the number of independent kernels (one per channel).</summary>
    public int Channels { get; }

    /// <summary>d, the state size of each kernel.</summary>
    public int StateSize { get; }

    /// <summary>True: A uses a / ||a||_1 (when ||a||_1 is not ~0), which keeps the spectral radius at most 1.</summary>
    public bool NormalizeA { get; }

    /// <summary>How <see cref="Kernel"/> is computed.</summary>
    public CompanionKernelMethod KernelMethod { get; }

    /// <summary>The last columns a [H, d] as stored (see <see cref="EffectiveA"/>).</summary>
    public Tensor A => GetParameter("a");

    /// <summary>The input vectors b [H, d].</summary>
    public Tensor B => GetParameter("b");

    /// <summary>The output vectors c [H, d].</summary>
    public Tensor C => GetParameter("c");

    /// <summary>The skip D [H], or null without a skip.</summary>
    public Tensor? D => FindParameter("D");

    /// <summary>The last column A actually uses: a, L1-normalised when <see cref="NormalizeA"/>.</summary>
    public Tensor EffectiveA => NormalizeA ? CompanionKernel.NormalizeL1(A) : A;

    /// <summary>The kernel K [H, L], K_l = cᵀ A^l b, differentiable with respect to a, b and c.</summary>
    public Tensor Kernel(int length) => KernelMethod == CompanionKernelMethod.Woodbury
        ? CompanionKernel.Woodbury(EffectiveA, B, C, length)
        : CompanionKernel.KrylovKernel(EffectiveA, B, C, length);

    /// <summary>u [B, L, H] to y [B, L, H]: y = u * K (causal, through the FFT) + D u.</summary>
    public override Tensor Forward(Tensor u)
    {
        if (u.Rank != 3 || u.Size(2) != Channels)
            throw new ArgumentException($"CompanionSsm: expects [batch, length, {Channels}], got {Shapes.Format(u.Shape)}");
        if (u.Size(1) < 1) throw new ArgumentException($"CompanionSsm: expects at least one position, got {Shapes.Format(u.Shape)}");
        var signal = u.Transpose(1, 2);                                      // [B, H, L]
        var y = S4D.FftConvolution(signal, Kernel(u.Size(1)));
        if (D is { } skip) y = y + signal * skip.Unsqueeze(-1);
        return y.Transpose(1, 2);
    }

    /// <summary>
    /// The last column a that makes the system x_{t+1} = A x_t + e_d u_t, y_t = e_dᵀ x_{t+1} the AR(p) process
    /// y_t = Σ_i φ_i y_{t-i} + u_t (observer canonical form): a_{d-i} = φ_i (zero-based), the other entries 0; d ≥ p.
    /// </summary>
    public static double[] ArCoefficientsAsLastColumn(IReadOnlyList<double> phi, int stateSize)
    {
        if (phi.Count > stateSize) throw new ArgumentException($"CompanionSsm: an AR({phi.Count}) process needs a state size of at least {phi.Count}, got {stateSize}");
        var a = new double[stateSize];
        for (int i = 0; i < phi.Count; i++) a[stateSize - 1 - i] = phi[i];
        return a;
    }
}

namespace Engine.Nn;

/// <summary>
/// The diagonal state-space layer S4D (Gu, Gupta, Goel, Re 2022): per channel h an independent linear system
/// x' = A x + B u, y = 2 Re(C x) + D u with diagonal complex A (N/2 conjugate pairs), B fixed to 1 (folded into C),
/// discretised with a learned step dt. Training computes y as a causal convolution with the Vandermonde kernel
/// (through the FFT); generation runs the same system as a recurrence (<see cref="Step"/>), with equal outputs.
/// Parameters: <c>log_dt</c> [H], <c>log_A_real</c> [H, N/2], <c>A_imag</c> [H, N/2], <c>C</c> [H, N/2, 2]
/// (real, imaginary), <c>D</c> [H]. Input and output [B, L, H].
/// <code>var s4d = new S4D(channels: 64, stateSize: 64, S4DInit.Inv); var y = s4d.Forward(u); // [B, L, 64]</code>
/// </summary>
public sealed class S4D : Module
{
    /// <summary>Names of the parameters that define the dynamics (dt and A), trained with their own learning rate (see <see cref="SsmParamGroups"/>).</summary>
    public static readonly IReadOnlyList<string> DynamicsParameterNames = ["log_dt", "log_A_real", "A_imag"];

    /// <summary>
    /// An S4D layer over <paramref name="channels"/> H channels with state size <paramref name="stateSize"/> N (even).
    /// log_dt ~ U[log dtMin, log dtMax] ("How to Train Your HiPPO", section 4), A from <paramref name="init"/>,
    /// C ~ N(0, 1/2) in each part, D ~ N(0, 1) (S4D paper, section 4 and its reference code).
    /// </summary>
    public S4D(int channels, int stateSize = 64, S4DInit init = S4DInit.Lin, S4DDiscretization discretization = S4DDiscretization.Zoh,
        double dtMin = 0.001, double dtMax = 0.1, Generator? generator = null)
    {
        if (channels < 1) throw new ArgumentException($"S4D: needs at least one channel, got {channels}");
        if (!(dtMin > 0 && dtMax >= dtMin)) throw new ArgumentException($"S4D: needs 0 < dtMin <= dtMax, got [{dtMin}, {dtMax}]");
        var (re, im) = init.Eigenvalues(stateSize);
        int half = stateSize / 2;
        Channels = channels;
        StateSize = stateSize;
        Initialization = init;
        Discretization = discretization;

        Init.Uniform(RegisterParameter("log_dt", Tensor.Zeros(channels)), Math.Log(dtMin), Math.Log(dtMax), generator);
        // A = -exp(log_A_real) + i A_imag keeps the real part negative (a stable system) under any update (section 3.2).
        var logAReal = re.Select(r => Math.Log(-r)).ToArray();
        RegisterParameter("log_A_real", Tensor.FromArray(Repeat(logAReal, channels), [channels, half]).To(DType.Float32));
        RegisterParameter("A_imag", Tensor.FromArray(Repeat(im, channels), [channels, half]).To(DType.Float32));
        Init.Normal(RegisterParameter("C", Tensor.Zeros(channels, half, 2)), 0, Math.Sqrt(0.5), generator);
        Init.Normal(RegisterParameter("D", Tensor.Zeros(channels)), 0, 1, generator);
    }

    /// <summary>H, the number of independent channels.</summary>
    public int Channels { get; }

    /// <summary>N, the state size (N/2 complex conjugate pairs are stored).</summary>
    public int StateSize { get; }

    /// <summary>The initialisation A was drawn from.</summary>
    public S4DInit Initialization { get; }

    /// <summary>ZOH or bilinear.</summary>
    public S4DDiscretization Discretization { get; }

    /// <summary>log dt [H].</summary>
    public Tensor LogDt => GetParameter("log_dt");

    /// <summary>log(-Re A) [H, N/2].</summary>
    public Tensor LogAReal => GetParameter("log_A_real");

    /// <summary>Im A [H, N/2].</summary>
    public Tensor AImag => GetParameter("A_imag");

    /// <summary>C [H, N/2, 2] (real, imaginary).</summary>
    public Tensor C => GetParameter("C");

    /// <summary>The skip connection D [H].</summary>
    public Tensor D => GetParameter("D");

    /// <summary>The continuous A = -exp(log_A_real) + i A_imag, [H, N/2].</summary>
    internal ComplexTensor A => new(-LogAReal.Exp(), AImag);

    /// <summary>The discrete (Abar, Bbar), [H, N/2] each (S4D paper, section 2.2; B = 1).</summary>
    internal (ComplexTensor ABar, ComplexTensor BBar) Discretize()
    {
        var a = A;
        var dt = LogDt.Exp().Unsqueeze(-1);
        var dtA = a * dt;
        switch (Discretization)
        {
            case S4DDiscretization.Zoh:
            {
                var aBar = dtA.Exp();
                return (aBar, (aBar + -1.0) / a);
            }
            case S4DDiscretization.Bilinear:
            {
                var denominator = 1.0 - dtA * 0.5;
                return ((dtA * 0.5 + 1.0) / denominator, new ComplexTensor(dt, dt.ZerosLike()) / denominator);
            }
            default:
                throw new InvalidOperationException($"S4D: unknown discretisation {Discretization}");
        }
    }

    /// <summary>
    /// The convolution kernel K [H, L], K[h, l] = 2 Re(sum_n C_n Bbar_n Abar_n^l) (S4D paper, section 2.3, the
    /// Vandermonde product), differentiable with respect to every parameter.
    /// </summary>
    public Tensor Kernel(int length)
    {
        if (length < 1) throw new ArgumentException($"S4D.Kernel: length must be at least 1, got {length}");
        var (aBar, bBar) = Discretize();
        var cBar = ComplexTensor.FromPairs(C) * bBar;
        // ZOH: Abar^l = exp(l dt A), the fused Vandermonde product (no [H, N/2, L] intermediate).
        if (Discretization == S4DDiscretization.Zoh)
            return Tensor.VandermondeProduct(cBar.ToPairs(), (A * LogDt.Exp().Unsqueeze(-1)).ToPairs(), length) * 2.0;
        var powers = Powers(aBar, length);                                   // [H, N/2, L]
        var terms = cBar.Unsqueeze(-1) * powers;
        return terms.Re.Sum(1) * 2.0;
    }

    // Abar^l for l = 0..L-1, [H, N/2, L], for the bilinear discretisation: by doubling (powers 0..2k-1 are powers
    // 0..k-1 and those times Abar^k), log2 L complex products that stay differentiable without a complex logarithm.
    static ComplexTensor Powers(ComplexTensor aBar, int length)
    {
        var powers = new ComplexTensor(aBar.Re.OnesLike(), aBar.Re.ZerosLike()).Unsqueeze(-1);
        var current = aBar.Unsqueeze(-1);
        int have = 1;
        while (have < length)
        {
            powers = powers.Concat(powers * current, -1);
            have *= 2;
            if (have < length) current = current * current;
        }
        return powers.Narrow(-1, 0, length);
    }

    /// <summary>
    /// u [B, L, H] to y [B, L, H]: y = u * K (causal convolution through FFTs padded to 2L, so the circular
    /// convolution does not wrap around) + D u. With a <paramref name="state"/>, runs the recurrence instead,
    /// continuing from and updating the state (incremental decoding).
    /// </summary>
    public Tensor Forward(Tensor u, S4DState? state)
    {
        if (u.Rank != 3 || u.Size(2) != Channels)
            throw new ArgumentException($"S4D: expects [batch, length, {Channels}], got {Shapes.Format(u.Shape)}");
        if (state is not null) return Recurrent(u, state);
        var signal = u.Transpose(1, 2);                                      // [B, H, L]
        var y = FftConvolution(signal, Kernel(u.Size(1))) + signal * D.Unsqueeze(-1);
        return y.Transpose(1, 2);
    }

    /// <summary>
    /// The causal convolution y[..., t] = sum_{j &lt;= t} k[..., t - j] u[..., j] along the last dimension, in
    /// O(L log L): the fused <see cref="Tensor.CausalConvolution"/>, which transforms both zero-padded to 2L (padding
    /// keeps the circular convolution from wrapping around; S4D paper, section 2.3), multiplies the spectra and
    /// transforms back. <paramref name="kernel"/> broadcasts against <paramref name="signal"/> in the leading
    /// dimensions (e.g. u [B, H, L] with K [H, L]).
    /// </summary>
    public static Tensor FftConvolution(Tensor signal, Tensor kernel)
    {
        RequireSameLength("FftConvolution", signal, kernel);
        return signal.CausalConvolution(kernel);
    }

    /// <summary>
    /// <see cref="FftConvolution"/> written from primitives: rfft of both padded to 2L, a complex product of spectra,
    /// irfft, the first L outputs. The reference the fused op is tested and benchmarked against.
    /// </summary>
    public static Tensor ComposedFftConvolution(Tensor signal, Tensor kernel)
    {
        RequireSameLength("ComposedFftConvolution", signal, kernel);
        int length = signal.Size(-1);
        var uf = ComplexTensor.FromPairs(signal.Rfft(2 * length));
        var kf = ComplexTensor.FromPairs(kernel.Rfft(2 * length));
        return (uf * kf).ToPairs().Irfft(2 * length).Narrow(-1, 0, length);
    }

    static void RequireSameLength(string op, Tensor signal, Tensor kernel)
    {
        if (kernel.Size(-1) != signal.Size(-1))
            throw new ArgumentException($"S4D.{op}: signal {Shapes.Format(signal.Shape)} and kernel {Shapes.Format(kernel.Shape)} differ in length");
    }

    /// <inheritdoc cref="Forward(Tensor, S4DState?)"/>
    public override Tensor Forward(Tensor u) => Forward(u, null);

    /// <summary>
    /// One step of the recurrence: u_t [B, H] to y_t [B, H], with x_t = Abar x_{t-1} + Bbar u_t and
    /// y_t = 2 Re(C x_t) + D u_t (S4D paper, section 2.2), updating <paramref name="state"/>.
    /// </summary>
    public Tensor Step(Tensor u, S4DState state)
    {
        if (u.Rank != 2 || u.Size(1) != Channels)
            throw new ArgumentException($"S4D.Step: expects [batch, {Channels}], got {Shapes.Format(u.Shape)}");
        var (aBar, bBar) = Discretize();
        return StepWith(u, state, aBar, bBar, ComplexTensor.FromPairs(C));
    }

    Tensor StepWith(Tensor u, S4DState state, ComplexTensor aBar, ComplexTensor bBar, ComplexTensor c)
    {
        var input = bBar * u.Unsqueeze(-1);                                  // [B, H, N/2]
        var x = state.Value is ComplexTensor previous ? aBar * previous + input : input;
        state.Advance(x);
        return (c * x).Re.Sum(-1) * 2.0 + u * D;
    }

    // The recurrence over a whole input [B, T, H], discretising once.
    Tensor Recurrent(Tensor u, S4DState state)
    {
        var (aBar, bBar) = Discretize();
        var c = ComplexTensor.FromPairs(C);
        var outputs = new Tensor[u.Size(1)];
        for (int t = 0; t < outputs.Length; t++) outputs[t] = StepWith(u.Select(1, t), state, aBar, bBar, c);
        return Tensor.Stack(outputs, 1);
    }

    static double[] Repeat(double[] row, int times) => Enumerable.Range(0, times).SelectMany(_ => row).ToArray();
}

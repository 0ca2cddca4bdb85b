using Engine.Autograd;

namespace Engine.Peft.LowRank;

/// <summary>
/// The variational part of one MonteCLoRA adapter on one layer (PEFT's <c>MontecloraSampler</c>, lora/monteclora.py;
/// Sengupta et al. 2024, arXiv:2411.04358, section 3): trained <c>std_prior</c> s [r] and <c>expert_weights_prior</c>
/// e [N], and the last sample's <c>gaussian_var_prior</c> [r, r] and <c>expert_weights</c> [N] as buffers (PEFT saves
/// all four under <c>lora_monteclora_sampler.*</c>). One training forward draws, as PEFT's code does:
/// <list type="bullet">
/// <item>a Wishart W ~ W(r, I) (only its diagonal enters, each W_ii ~ χ²(r)); the covariance
/// Σ = diag(max(e^{2 s_i} W_ii, 1e-3)) (PEFT's <c>wishart_reparameterization</c>);</item>
/// <item>N perturbations of Aᵀ, ε_n = sample_scaler · z_n L with z_n ~ N(0, 1) [in, r] and L = chol(Σ) = Σ^{1/2}
/// (<c>multivariate_reparameterization</c>);</item>
/// <item>mixture weights w = softmax(L_d z + μ) with z ~ N(0, 1) [N], the Laplace-style normal approximation of
/// Dir(α), α = e^e: μ = log α - mean(log α), L_d² = (1/α)(1 - 2/N) + Σ(1/α)/N² + 1e-6 (<c>dirichlet_reparameterization</c>).</item>
/// </list>
/// The regulariser (<see cref="VariationalLoss"/>) follows PEFT's <c>get_variational_loss</c> term for term.
/// </summary>
public sealed class MontecloraSampler : Module
{
    readonly MontecloraConfig _config;
    readonly int _inFeatures, _rank;
    // The last training sample with its graph (PEFT keeps it in the buffers themselves): the KL of the covariance and
    // the entropy term read it, so their gradients reach s and e as in PEFT.
    Tensor? _lastVariance, _lastWeights;

    /// <summary>A sampler for A [<paramref name="rank"/>, <paramref name="inFeatures"/>]; s and e start U(0, 1) from <paramref name="generator"/>, as PEFT's <c>torch.rand</c>.</summary>
    public MontecloraSampler(int inFeatures, int rank, MontecloraConfig config, Generator? generator)
    {
        _config = config;
        _inFeatures = inFeatures;
        _rank = rank;
        int n = config.NumSamples;
        RegisterParameter("std_prior", Tensor.Rand([rank], generator: generator));
        RegisterParameter("expert_weights_prior", Tensor.Rand([n], generator: generator));
        RegisterBuffer("gaussian_var_prior", Tensor.Eye(rank));
        RegisterBuffer("expert_weights", Tensor.Full([n], 1.0 / n));
    }

    /// <summary>s [r]: the log standard deviations of the covariance's scale.</summary>
    public Tensor StdPrior => GetParameter("std_prior");

    /// <summary>e [N]: the log concentrations of the mixture weights' Dirichlet.</summary>
    public Tensor ExpertWeightsPrior => GetParameter("expert_weights_prior");

    /// <summary>The last sampled covariance Σ [r, r] (diagonal; the identity before any training forward).</summary>
    public Tensor GaussianVarPrior => BufferNamed("gaussian_var_prior");

    /// <summary>The last sampled mixture weights w [N] (1/N before any training forward).</summary>
    public Tensor ExpertWeights => BufferNamed("expert_weights");

    Tensor BufferNamed(string name) => NamedBuffers().First(b => b.Name == name).Buffer;

    /// <summary>Standard-normal and χ² draws for one training forward, from <paramref name="generator"/>.</summary>
    public MontecloraNoise Draw(Generator? generator)
    {
        var p = StdPrior;
        int n = _config.NumSamples;
        var mvn = Tensor.Randn([n, _inFeatures, _rank], 0, 1, p.DType, generator, p.Device);
        // The diagonal of a Bartlett-sampled W(r, I): row i of the factor holds sqrt(χ²(r - i)) and i standard
        // normals, so W_ii is a sum of r squared standard normals, independent across i.
        var wishart = Tensor.Randn([_rank, _rank], 0, 1, p.DType, generator, p.Device).Square().Sum(1);
        var dirichlet = Tensor.Randn([n], 0, 1, p.DType, generator, p.Device);
        return new MontecloraNoise(mvn, wishart, dirichlet);
    }

    /// <summary>
    /// The perturbations ε [N, in, r] of Aᵀ and the mixture weights w [N] for <paramref name="noise"/>, with their
    /// graphs to s and e; the covariance and weights are kept for the regulariser and written to the buffers.
    /// </summary>
    public (Tensor Perturbations, Tensor Weights) Sample(MontecloraNoise noise)
    {
        CheckNoise(noise);
        var s = StdPrior;
        var e = s.Exp();
        // diag(std W stdᵀ) with std = diag(e^s), clipped at 1e-3 (PEFT's wishart_reparameterization).
        var variance = (e * noise.WishartDiagonal * e).Clamp(min: 1e-3);
        // z L with L = chol(diag(variance)) = diag(sqrt(variance)).
        var perturbations = noise.Mvn * variance.Sqrt() * _config.SampleScaler;

        int n = _config.NumSamples;
        var alpha = ExpertWeightsPrior.Exp().Clamp(min: 1e-6);
        var logAlpha = alpha.Log();
        var mu = logAlpha - logAlpha.Mean();
        var inverse = alpha.Reciprocal();
        var diagonal = (inverse * (1 - 2.0 / n) + inverse.Sum() / ((double)n * n)).Clamp(min: 1e-6);
        // chol(diag(d) + 1e-6 I) = diag(sqrt(d + 1e-6)).
        var weights = ((diagonal + 1e-6).Sqrt() * noise.Dirichlet + mu).Softmax(0);

        _lastVariance = variance;
        _lastWeights = weights;
        using (Autograd.Autograd.NoGrad())
        {
            GaussianVarPrior.CopyFrom(Tensor.Eye(_rank, dtype: variance.DType).To(variance.Device) * variance.Detach().Unsqueeze(0));
            ExpertWeights.CopyFrom(weights.Detach());
        }
        return (perturbations, weights);
    }

    void CheckNoise(MontecloraNoise noise)
    {
        int n = _config.NumSamples;
        if (!noise.Mvn.Shape.SequenceEqual([n, _inFeatures, _rank]) || !noise.WishartDiagonal.Shape.SequenceEqual([_rank]) || !noise.Dirichlet.Shape.SequenceEqual([n]))
            throw new ArgumentException($"MontecloraSampler: noise must be [{n}, {_inFeatures}, {_rank}], [{_rank}] and [{n}]; got {Shapes.Format(noise.Mvn.Shape)}, {Shapes.Format(noise.WishartDiagonal.Shape)} and {Shapes.Format(noise.Dirichlet.Shape)}");
    }

    /// <summary>
    /// PEFT's <c>get_variational_loss</c>, summed: kl_loss_weight (KL₁ + KL₂ + KL₃) + [use_entropy] Σ w², or null in
    /// evaluation mode (PEFT's 0). KL₁ is PEFT's Dirichlet term of α = e^e against the prior (<see cref="DirichletKl"/>),
    /// KL₂ = r/2 (Σ e^{2s} - Σ 2s - r), KL₃ = N/2 (Σ σ - Σ log σ - r) over the last covariance's diagonal σ (clamped
    /// at 1e-6). KL₃ and the entropy read the last training sample, as PEFT's buffers do (the loaded or initial
    /// buffers, constants, before any training forward).
    /// </summary>
    public Tensor? VariationalLoss()
    {
        if (!Training) return null;
        int r = _rank, n = _config.NumSamples;
        var s = StdPrior;
        var kl1 = DirichletKl(ExpertWeightsPrior.Exp(), _config.DirichletPrior);
        var stdSquared = s.Exp() * s.Exp();
        var kl2 = (stdSquared.Log().Sum() * -r + stdSquared.Sum() * r - (double)r * r) * 0.5;
        var sigma = (Live(_lastVariance) ?? Diagonal(GaussianVarPrior)).Clamp(min: 1e-6);
        var kl3 = (sigma.Sum() - sigma.Log().Sum() - r) * (0.5 * n);
        var loss = (kl1 + kl2 + kl3) * _config.KlLossWeight;
        if (_config.UseEntropy) loss = loss + (Live(_lastWeights) ?? ExpertWeights).Square().Sum();
        return loss;
    }

    // A kept sample is used only while it matches the parameters (a dtype or device change replaces them).
    Tensor? Live(Tensor? kept) => kept is not null && kept.DType == StdPrior.DType && kept.Device == StdPrior.Device ? kept : null;

    static Tensor Diagonal(Tensor square)
    {
        int r = square.Size(0);
        return (square * Tensor.Eye(r, dtype: square.DType).To(square.Device)).Sum(1);
    }

    /// <summary>
    /// PEFT's <c>dirichlet_kl</c> of <paramref name="alpha"/> [N] against the symmetric prior <paramref name="prior"/>:
    /// log Γ(Σα) - log Γ(Nβ) + Σ (log Γ(α_i) - log Γ(β)) + Σ (α_i - β)(ψ(α_i) - ψ(Σα)). The sign of the second sum
    /// is PEFT's (the textbook KL subtracts it); it is zero at α = β. PEFT takes log(exp(lgamma(a)) / exp(lgamma(b))),
    /// which overflows Float32 once Σα exceeds about 35 (its loss is then infinite); this computes the difference of
    /// log Γ directly, equal wherever PEFT's is finite.
    /// </summary>
    public static Tensor DirichletKl(Tensor alpha, double prior) => new DirichletKlFunction(prior).Apply(alpha);

    sealed class DirichletKlFunction(double prior) : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
        {
            var alpha = inputs[0];
            var a = alpha.To(Device.Cpu).ToDoubleArray();
            int n = a.Length;
            double sum = a.Sum(), psiSum = GammaFunctions.Digamma(sum), trigammaSum = GammaFunctions.Trigamma(sum);
            double value = GammaFunctions.LogGamma(sum) - GammaFunctions.LogGamma(n * prior), excess = 0;
            var gradient = new double[n];
            for (int i = 0; i < n; i++)
            {
                double psi = GammaFunctions.Digamma(a[i]);
                value += GammaFunctions.LogGamma(a[i]) - GammaFunctions.LogGamma(prior) + (a[i] - prior) * (psi - psiSum);
                excess += a[i] - prior;
                gradient[i] = psiSum + psi + (psi - psiSum) + (a[i] - prior) * GammaFunctions.Trigamma(a[i]);
            }
            for (int i = 0; i < n; i++) gradient[i] -= excess * trigammaSum;
            ctx.SaveForBackward(Tensor.FromArray(gradient, [n]).To(alpha.DType).To(alpha.Device));
            return Tensor.Scalar(value, alpha.DType, alpha.Device);
        }

        protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput) => [ctx.SavedTensors[0] * gradOutput];
    }
}

/// <summary>
/// The random draws of one MonteCLoRA training forward on one layer: standard normals z [N, in, r] for the
/// perturbations, the diagonal [r] of a Wishart W(r, I) draw and standard normals [N] for the mixture weights (PEFT's
/// <c>z_mvn</c>, <c>z_wishart</c>, <c>z_dirichlet</c>; of PEFT's full W only the diagonal enters).
/// </summary>
/// <param name="Mvn">z [N, in, r].</param>
/// <param name="WishartDiagonal">diag(W) [r].</param>
/// <param name="Dirichlet">z [N].</param>
public sealed record MontecloraNoise(Tensor Mvn, Tensor WishartDiagonal, Tensor Dirichlet);

namespace Engine.Nn;

/// <summary>
/// DrNAS's sampler (Chen et al. 2021, section 2.2; TangleNAS <c>optimizers/sampler/drnas.py</c>): each step draws
/// w ~ Dirichlet(ELU(α) + 1) with a reparameterised sample (<see cref="DirichletRsample"/>), so the search learns the
/// concentration. ELU(α) + 1 = max(α, 0) + exp(min(α, 0)) is positive for every α.
/// </summary>
public sealed class DrnasSampler : IArchitectureSampler
{
    readonly DirichletRsample _rsample;

    /// <summary>A sampler drawing from <paramref name="generator"/>.</summary>
    public DrnasSampler(Generator generator) => _rsample = new DirichletRsample(generator);

    /// <inheritdoc/>
    public string Name => "drnas";

    /// <summary>The Dirichlet concentration ELU(α) + 1 of <paramref name="alpha"/>.</summary>
    public static Tensor Concentration(Tensor alpha) => alpha.Relu() + (-(-alpha).Relu()).Exp();

    /// <inheritdoc/>
    public Tensor Weights(Tensor alpha) => _rsample.Sample(Concentration(alpha));
}

namespace Engine.Peft.Federated;

/// <summary>
/// LoRA-FAIR's server (Bian et al., arXiv 2411.14961, ICCV 2025; spec adapters-lowrank.md §9): keep Ā = Σ p_k A_k and
/// correct the averaged B so that the pair comes as close as it can to the ideal update ΔW = Σ p_k B_k A_k,
/// B̄' = B̄ + ΔB with ΔB = argmin ‖ΔW − (B̄ + ΔB)Ā‖_F² + λ‖ΔB‖_F². The paper leaves the distance, λ and the solver open
/// (no code is published); the engine's choice (spec §9) is this Frobenius ridge problem in closed form,
/// ΔB = (ΔW Āᵀ − B̄ĀĀᵀ)(ĀĀᵀ + λI)⁻¹ with λ = <see cref="LambdaFactor"/>·tr(ĀĀᵀ)/r. The communication is that of
/// <see cref="FactorAveraging"/>: one rank-r pair each way.
/// </summary>
public sealed class LoraFairAggregation : IFederatedAggregation
{
    /// <summary>The spec's default factor of the ridge weight, λ = 1e-3·tr(ĀĀᵀ)/r.</summary>
    public const double DefaultLambdaFactor = 1e-3;

    /// <summary>A rule with λ = <paramref name="lambdaFactor"/>·tr(ĀĀᵀ)/r (positive: it keeps ĀĀᵀ + λI invertible when Ā loses rank).</summary>
    public LoraFairAggregation(double lambdaFactor = DefaultLambdaFactor)
    {
        if (!(lambdaFactor > 0) || double.IsInfinity(lambdaFactor))
            throw new ArgumentOutOfRangeException(nameof(lambdaFactor), lambdaFactor, "LoraFairAggregation: the ridge factor must be positive and finite");
        LambdaFactor = lambdaFactor;
    }

    /// <summary>The factor c of λ = c·tr(ĀĀᵀ)/r.</summary>
    public double LambdaFactor { get; }

    /// <inheritdoc/>
    public string Name => "lora-fair";

    /// <inheritdoc/>
    public FederatedUpdate Aggregate(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> weights)
    {
        ClientAverage.Check("LoraFairAggregation", clients, weights);
        var averages = ClientAverage.Factors(clients, weights);
        var deltaB = Correction(ClientAverage.Product(clients, weights), averages, LambdaFactor);
        return new FederatedUpdate(averages with { B = averages.B + deltaB });
    }

    /// <summary>
    /// The correction ΔB [out, r] (Float64) of the ridge problem above for the target <paramref name="target"/> ΔW
    /// [out, in] and the averages (B̄, Ā). When Ā is zero there is nothing to project onto and ΔB = 0.
    /// </summary>
    public static Tensor Correction(Tensor target, LoraFactors averages, double lambdaFactor)
    {
        averages.CheckShapes("LoraFairAggregation.Correction");
        var (b, a) = (averages.B.To(DType.Float64), averages.A.To(DType.Float64));
        if (target.Rank != 2 || target.Size(0) != b.Size(0) || target.Size(1) != a.Size(1))
            throw new ArgumentException($"LoraFairAggregation.Correction: the target ΔW must be [out, in] = [{b.Size(0)}, {a.Size(1)}] for B̄ {Shapes.Format(b.Shape)} and Ā {Shapes.Format(a.Shape)}, got {Shapes.Format(target.Shape)}");
        int r = a.Size(0);
        var gram = a % a.T;
        var g = gram.ToDoubleArray();
        double trace = Enumerable.Range(0, r).Sum(i => g[i * r + i]);
        if (trace == 0) return Tensor.Zeros(b.Shape, DType.Float64);
        double lambda = lambdaFactor * trace / r;
        // ΔB (ĀĀᵀ + λI) = ΔW Āᵀ − B̄ĀĀᵀ; the matrix is symmetric, so ΔBᵀ solves (ĀĀᵀ + λI) X = (ΔW Āᵀ − B̄ĀĀᵀ)ᵀ.
        var rhs = target.To(DType.Float64) % a.T - b % gram;
        var system = gram + Tensor.Eye(r, dtype: DType.Float64) * lambda;
        return Linalg.Solve(system, rhs.T.Contiguous()).T.Contiguous();
    }
}

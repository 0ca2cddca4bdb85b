namespace Engine.Peft.Rotation;

/// <summary>
/// HRA's model part: the orthogonality regulariser of Yuan et al. 2024 (arXiv 2405.17484), λ Σ_layers ‖I − ÛᵀÛ‖_F²
/// with λ = <see cref="HraConfig.OrthRegWeight"/>, which pushes the reflection planes towards being orthogonal. PEFT's
/// HRA has no such term (hra/model.py); with λ = 0, the default, there is none here either.
/// </summary>
public sealed class HraModelPart(AdapterModelPartContext context) : AdapterModelPart(context), ILossRegularizer
{
    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model)
    {
        var lambda = ((HraConfig)Config).OrthRegWeight;
        if (lambda == 0) return null;
        Tensor? total = null;
        foreach (var (_, layer) in model.AdapterLayers())
            if (layer is HraLayer hra && hra.AdapterNames.Contains(AdapterName))
            {
                var term = hra.OrthogonalityPenalty(AdapterName);
                total = total is null ? term : total + term;
            }
        return total is null ? null : total * lambda;
    }
}

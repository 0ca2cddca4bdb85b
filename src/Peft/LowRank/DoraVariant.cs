namespace Engine.Peft.LowRank;

/// <summary>
/// DoRA (Liu et al. 2024): the weight m (W0 + s B A) / ||W0 + s B A||_c with a trained magnitude m [out]
/// (<c>lora_magnitude_vector</c>) and the norm per output row, treated as a constant in the backward pass (section 4.3).
/// Computed as PEFT's <c>DoraLinearVariant</c>: y = result + (g - 1) base + g s B A x_d with g = m / norm, where base is
/// the accumulated result without the bias when dropout is the identity (so a later adapter scales what earlier ones
/// added, as in PEFT) and x_d W0^T otherwise.
/// </summary>
public sealed class DoraVariant(bool detachNorm) : ILoraVariant
{
    /// <summary>The container of the magnitudes (PEFT's key).</summary>
    public const string MagnitudeKey = "lora_magnitude_vector";

    Tensor? _mergeNorm;

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator) =>
        // m starts at the row norms of W0 (after any PiSSA/OLoRA residual), so W' = W0 at step 0.
        layer.AddVariantParameter(MagnitudeKey, name, Norm(layer, name, layer.BaseLayer.Weight).Detach().Clone());

    // ||W + s B A||_c: the L2 norm of each output row (PEFT's weight norm over the input dimension).
    static Tensor Norm(LoraLayer layer, string name, Tensor weight) => (weight + layer.DeltaWeight(name)).Norm(2, [1]);

    /// <inheritdoc/>
    public Tensor Forward(LoraLayer layer, string name, Tensor input, Tensor result)
    {
        var norm = Norm(layer, name, layer.BaseLayer.Weight);
        if (detachNorm) norm = norm.Detach();
        var scale = layer.VariantParameter(MagnitudeKey, name) / norm;
        Tensor baseOutput, x;
        if (layer.VariantDropoutIsIdentity(name))
        {
            x = input;
            baseOutput = layer.BaseLayer.Bias is { } bias ? result - bias : result;
        }
        else
        {
            x = layer.VariantDropout(name, input);
            var shape = x.Shape;
            shape[^1] = layer.OutFeatures;
            baseOutput = x.Reshape(-1, layer.InFeatures).MatMul(layer.BaseLayer.Weight.T).Reshape(shape);
        }
        return result + (scale - 1) * baseOutput + scale * layer.VariantContribution(name, x);
    }

    /// <inheritdoc/>
    public Tensor Merge(LoraLayer layer, string name, Tensor weight)
    {
        // W' = m (W0 + s B A) / ||W0 + s B A||_c; the norm is kept to undo the merge exactly.
        _mergeNorm = Norm(layer, name, weight).Detach();
        return (weight + layer.DeltaWeight(name).Detach()) * (layer.VariantParameter(MagnitudeKey, name).Detach() / _mergeNorm).Unsqueeze(1);
    }

    /// <inheritdoc/>
    public Tensor Unmerge(LoraLayer layer, string name, Tensor weight)
    {
        var norm = _mergeNorm ?? throw new InvalidOperationException($"DoraVariant: adapter '{name}' is not merged");
        _mergeNorm = null;
        return weight / (layer.VariantParameter(MagnitudeKey, name).Detach() / norm).Unsqueeze(1) - layer.DeltaWeight(name).Detach();
    }
}

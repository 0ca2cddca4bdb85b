namespace Engine.Peft.LowRank;

/// <summary>
/// A variant of LoRA that keeps A and B but changes how they act (PEFT's <c>LoraVariant</c>): DoRA's magnitude and
/// direction, and later KaSA, MiCA and the others of peft-methods.md section F. One instance per adapter on a layer, so
/// a variant may keep state (DoRA caches the norm of a merge). Chosen from the config by <see cref="LoraVariants.For"/>.
/// </summary>
public interface ILoraVariant
{
    /// <summary>Creates the variant's own tensors once A and B exist.</summary>
    void Init(LoraLayer layer, string name);

    /// <summary>The output after adapter <paramref name="name"/>, given the accumulated <paramref name="result"/> and the layer input.</summary>
    Tensor Forward(LoraLayer layer, string name, Tensor input, Tensor result);

    /// <summary>The base weight with the adapter folded in.</summary>
    Tensor Merge(LoraLayer layer, string name, Tensor weight);

    /// <summary>The inverse of <see cref="Merge"/>.</summary>
    Tensor Unmerge(LoraLayer layer, string name, Tensor weight);
}

/// <summary>Picks the variant of a LoRA config: the one place that maps config flags to strategies.</summary>
public static class LoraVariants
{
    /// <summary>A new variant instance for <paramref name="config"/>, or null for plain LoRA.</summary>
    public static ILoraVariant? For(LoraConfig config) => config.UseDora ? new DoraVariant(config.DoraDetachNorm) : null;
}

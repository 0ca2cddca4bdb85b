namespace Engine.Peft.LowRank;

/// <summary>
/// aLoRA, activated LoRA (Greenewald et al. 2025, arXiv:2504.12397; PEFT's <c>ALoraLinearVariant</c>): the update
/// s B A x applies only at the positions from the start of the last occurrence of the invocation tokens on, row by
/// row (<see cref="AloraOffsets"/>); earlier positions and rows without the invocation get exactly the base output, so
/// a causal model's keys and values before the invocation are the base model's and its KV cache can be reused. As in
/// PEFT the adapted positions are the last min(offset, T) of the T the layer sees, so each decode step after an
/// invoked prompt (T = 1) is adapted, and without offsets (no scope open) the layer gives the base output.
/// Not mergeable: the update depends on the position, which a weight cannot (PEFT raises too).
/// </summary>
public sealed class AloraVariant : ILoraVariant
{
    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator) { }

    /// <inheritdoc/>
    public string? MergeRefusal => "aLoRA's update applies only from the invocation on, so it depends on the position (PEFT: \"aLoRA does not support merging\")";

    /// <inheritdoc/>
    public Tensor Forward(LoraLayer layer, string name, Tensor input, Tensor result)
    {
        if (AloraOffsets.Current(name) is not { } offsets) return result;
        if (result.Rank is not (2 or 3))
            throw new ArgumentException($"aLoRA: adapter '{name}' expects inputs [batch, time, features] or [batch, features], got {Shapes.Format(input.Shape)}");
        int b = result.Size(0), t = result.Rank == 3 ? result.Size(1) : 1;
        if (offsets.Length != b)
            throw new ArgumentException($"aLoRA: adapter '{name}' has invocation offsets for {offsets.Length} rows, but the batch has {b}");
        // Position j of row i is adapted when j >= T - min(offset_i, T) (PEFT's mask).
        var adapted = new bool[b * t];
        for (int i = 0; i < b; i++)
            for (int j = t - Math.Min(offsets[i], t); j < t; j++) adapted[i * t + j] = true;
        var mask = Tensor.FromArray(adapted, result.Rank == 3 ? [b, t, 1] : [b, 1]).To(result.Device);
        // A select, not a masked sum: the positions before the invocation keep the base output bit for bit.
        return Tensor.Where(mask, result + layer.VariantContribution(name, layer.VariantDropout(name, input)), result);
    }

    /// <inheritdoc/>
    public Tensor Merge(LoraLayer layer, string name, Tensor weight) => throw NotMergeable(name);

    /// <inheritdoc/>
    public Tensor Unmerge(LoraLayer layer, string name, Tensor weight) => throw NotMergeable(name);

    NotSupportedException NotMergeable(string name) => new($"aLoRA: adapter '{name}' (LORA with alora_invocation_tokens) cannot be merged: {MergeRefusal}");
}

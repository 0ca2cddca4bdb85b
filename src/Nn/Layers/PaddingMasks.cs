namespace Engine.Nn;

/// <summary>Key padding masks ([B, T], true at padding) extended for positions placed before the tokens.</summary>
internal static class PaddingMasks
{
    /// <summary>
    /// <paramref name="mask"/> [B, T] with <paramref name="count"/> never-padded positions before it (virtual tokens,
    /// prefixes, cached positions), as Bool [B, count + T]; null stays null (no padding anywhere).
    /// </summary>
    public static Tensor? PrependKept(Tensor? mask, int count)
    {
        if (mask is null) return null;
        if (mask.Rank != 2) throw new ArgumentException($"PaddingMasks: expects a key padding mask [batch, time], got {Shapes.Format(mask.Shape)}");
        if (count == 0) return mask.To(DType.Bool);
        var kept = Tensor.Zeros([mask.Size(0), count], DType.Float32, mask.Device);
        return Tensor.Concat([kept, mask.To(DType.Float32)], 1).To(DType.Bool);
    }
}

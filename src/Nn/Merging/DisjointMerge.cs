namespace Engine.Nn.Merging;

/// <summary>
/// TIES' "disjoint merge" (Yadav et al. 2023, §4 step 3): per entry, the mean over only the task vectors that hold the
/// elected sign; 0 where none does. PEFT's <c>disjoint_merge</c> (<c>src/peft/utils/merge_utils.py</c>) divides the
/// masked sum by the count clamped to at least 1, which is the same.
/// </summary>
public static class DisjointMerge
{
    /// <summary>
    /// The mean over dimension 0 of <paramref name="stacked"/> (<c>[n, ...]</c>) taken only where <paramref name="mask"/>
    /// (Bool, same shape, e.g. <see cref="MajoritySignMask.Of"/>) is true; shape <c>[...]</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes that differ, a mask that is not Bool, or a non-floating tensor.</exception>
    public static Tensor Mean(Tensor stacked, Tensor mask)
    {
        if (mask.DType != DType.Bool || !mask.Shape.SequenceEqual(stacked.Shape) || !stacked.DType.IsFloating() || stacked.Rank == 0)
            throw new ArgumentException($"DisjointMerge: needs floating task vectors stacked on dimension 0 and a Bool mask of the same shape, got {stacked.DType.Name()} {Shapes.Format(stacked.Shape)} and {mask.DType.Name()} {Shapes.Format(mask.Shape)}");
        var sum = Tensor.Where(mask, stacked, 0.0).Sum(0);
        var count = mask.To(stacked.DType).Sum(0).Clamp(min: 1);
        return sum / count;
    }
}

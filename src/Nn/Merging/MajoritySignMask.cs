namespace Engine.Nn.Merging;

/// <summary>
/// TIES' "elect" step (Yadav et al. 2023, §4 step 2): per entry, the sign the task vectors agree on, and which of them
/// hold it. PEFT's <c>calculate_majority_sign_mask</c> (<c>src/peft/utils/merge_utils.py</c>): the elected sign is
/// + where the sum (<see cref="MajoritySignMethod.Total"/>, the paper's mass) or the count of signs
/// (<see cref="MajoritySignMethod.Frequency"/>) is ≥ 0, else −; an entry of 0 has sign 0 and never agrees.
/// </summary>
public static class MajoritySignMask
{
    /// <summary>
    /// For task vectors stacked on dimension 0 (<c>[n, ...]</c>), a Bool mask of the same shape: true where the
    /// vector's entry has the elected sign of that position.
    /// <code>var mask = MajoritySignMask.Of(Tensor.Stack([t1, t2, t3]), MajoritySignMethod.Total);</code>
    /// </summary>
    /// <exception cref="ArgumentException">A non-floating tensor, or one with no stacking dimension.</exception>
    public static Tensor Of(Tensor stacked, MajoritySignMethod method)
    {
        if (!stacked.DType.IsFloating() || stacked.Rank == 0)
            throw new ArgumentException($"MajoritySignMask: needs floating task vectors stacked on dimension 0, got {stacked.DType.Name()} {Shapes.Format(stacked.Shape)}");
        var sign = stacked.Sign();
        var strength = method switch
        {
            MajoritySignMethod.Total => stacked.Sum(0),
            MajoritySignMethod.Frequency => sign.Sum(0),
            _ => throw new ArgumentException($"MajoritySignMask: unknown method {method}"),
        };
        var elected = Tensor.Where(strength.Ge(0), 1.0, -1.0, stacked.DType);
        return sign.Eq(elected);
    }
}

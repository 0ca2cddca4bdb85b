namespace Engine.Nn;

/// <summary>
/// The symmetric cross-entropy between a student's and a teacher's logits that PSMT (and CoTTA-style mean teachers)
/// distil with (spec seeds-remaining.md §4; JiaxuTian/PSMT <c>methods/psmt.py</c>):
/// <c>SCE(s, t) = −(1−α) Σ_c σ(t)_c log σ(s)_c − α Σ_c σ(s)_c log σ(t)_c</c>, σ the softmax, averaged over the
/// batch. The teacher's logits are treated as constants (its weights move by EMA, not by gradient).
/// </summary>
public static class SymmetricCrossEntropy
{
    /// <summary>The batch mean of SCE for logits [B, C] of student and teacher.</summary>
    /// <exception cref="ArgumentException">Shapes that differ or are not [B, C].</exception>
    /// <exception cref="ArgumentOutOfRangeException">α outside [0, 1].</exception>
    public static Tensor Compute(Tensor student, Tensor teacher, double alpha = 0.5)
    {
        if (student.Rank != 2 || !student.Shape.SequenceEqual(teacher.Shape))
            throw new ArgumentException($"SymmetricCrossEntropy: expects student and teacher logits [batch, classes] of one shape, got {Shapes.Format(student.Shape)} and {Shapes.Format(teacher.Shape)}");
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "SymmetricCrossEntropy: α must be in [0, 1]");
        var t = teacher.Detach();
        var logS = student.LogSoftmax(-1);
        var logT = t.LogSoftmax(-1);
        var forward = -(logT.Exp() * logS).Sum(-1);
        var backward = -(logS.Exp() * logT).Sum(-1);
        return (forward * (1 - alpha) + backward * alpha).Mean();
    }
}

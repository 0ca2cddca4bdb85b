namespace Engine.Nn;

/// <summary>
/// The "cure" loss of FoldGPT (structure-and-optimizers.md 1.4): the pruned, group-shared student fine-tunes towards the
/// dense teacher by matching its output distribution and its last hidden state (tail-layer distillation; the paper's
/// exact mix is not given, so both terms are offered with weights).
/// </summary>
public static class FoldGptDistillation
{
    /// <summary>
    /// KL(teacher ‖ student) of the temperature-softened distributions (Hinton et al. 2015), averaged over positions and
    /// multiplied by T² so that its gradient scale does not depend on T. Logits [..., V]; the teacher is detached.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public static Tensor LogitKl(Tensor studentLogits, Tensor teacherLogits, double temperature = 1.0)
    {
        if (!studentLogits.Shape.SequenceEqual(teacherLogits.Shape))
            throw new ArgumentException($"FoldGptDistillation.LogitKl: student logits {Shapes.Format(studentLogits.Shape)} and teacher logits {Shapes.Format(teacherLogits.Shape)} differ");
        if (!(temperature > 0)) throw new ArgumentException($"FoldGptDistillation.LogitKl: the temperature must be positive, got {temperature}");
        int v = studentLogits.Size(-1);
        var t = (teacherLogits.Detach() / temperature).Reshape(-1, v).LogSoftmax(1);
        var s = (studentLogits / temperature).Reshape(-1, v).LogSoftmax(1);
        return (t.Exp() * (t - s)).Sum(1).Mean() * (temperature * temperature);
    }

    /// <summary>Mean squared error between the last hidden states [..., C] (teacher detached).</summary>
    public static Tensor HiddenMse(Tensor studentHidden, Tensor teacherHidden)
    {
        if (!studentHidden.Shape.SequenceEqual(teacherHidden.Shape))
            throw new ArgumentException($"FoldGptDistillation.HiddenMse: student {Shapes.Format(studentHidden.Shape)} and teacher {Shapes.Format(teacherHidden.Shape)} hidden states differ");
        var d = studentHidden - teacherHidden.Detach();
        return (d * d).Mean();
    }

    /// <summary>
    /// klWeight·<see cref="LogitKl"/> + mseWeight·<see cref="HiddenMse"/> of <paramref name="student"/> against
    /// <paramref name="teacher"/> on <paramref name="ids"/> [B, T]; the teacher runs without a graph.
    /// </summary>
    public static Tensor Loss(Gpt student, Gpt teacher, Tensor ids, double temperature = 1.0, double klWeight = 1.0, double mseWeight = 1.0)
    {
        Tensor teacherHidden, teacherLogits;
        using (Autograd.Autograd.NoGrad())
        {
            teacherHidden = teacher.LastHiddenState(ids);
            teacherLogits = teacher.Forward(ids);
        }
        var loss = LogitKl(student.Forward(ids), teacherLogits, temperature) * klWeight;
        return mseWeight == 0 ? loss : loss + HiddenMse(student.LastHiddenState(ids), teacherHidden) * mseWeight;
    }
}

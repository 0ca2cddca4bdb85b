namespace Engine.Autograd.Testing;

/// <summary>
/// A non-contiguous input for a gradient check: a contiguous <see cref="Base"/> tensor and the view taken of it.
/// GradCheck rebuilds its inputs as fresh contiguous leaves, so the view has to be taken inside the checked function:
/// <c>GradCheck.Check(x => s.View(x[0]).Tanh(), [s.Base])</c>.
/// </summary>
/// <param name="Base">The larger tensor the view reads from (what GradCheck perturbs).</param>
/// <param name="View">Takes the view (a transpose, a stepped slice, an expansion, ...) of a tensor shaped like <see cref="Base"/>.</param>
/// <param name="Description">What the view is, for failure messages: <c>"[3,4] transposed(0,1)"</c>.</param>
public sealed record StridedInput(Tensor Base, Func<Tensor, Tensor> View, string Description)
{
    /// <summary>The view applied to <see cref="Base"/> itself.</summary>
    public Tensor Value => View(Base);

    /// <inheritdoc/>
    public override string ToString() => Description;
}

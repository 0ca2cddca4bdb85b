namespace Engine.Cli;

/// <summary>
/// A training command's loss became NaN or infinite (a learning rate too large, bad data): training stops before the
/// weights take that step, and the message names the step and what was kept on disk. A user error (exit code 2).
/// </summary>
/// <param name="what">Which loss: <c>"loss"</c> (training) or <c>"validation loss"</c>.</param>
sealed class TrainingDivergedException(string what, int step, double loss, string keptAndAdvice)
    : Exception($"the {what} at step {step} is {loss}; training stopped. {keptAndAdvice}")
{
    /// <summary>The 1-based step whose loss was not finite.</summary>
    public int Step { get; } = step;

    /// <summary>
    /// Wraps a trainer's loss function so a non-finite loss throws this exception (naming the 1-based step, then
    /// <paramref name="keptAndAdvice"/>: what is on disk at that moment and what to change) before backward and the
    /// optimiser step run.
    /// </summary>
    public static Func<int, Tensor> Guard(Func<int, Tensor> loss, Func<string> keptAndAdvice) => step =>
    {
        var value = loss(step);
        double item = value.Item();
        if (!double.IsFinite(item)) throw new TrainingDivergedException("loss", step + 1, item, keptAndAdvice());
        return value;
    };
}

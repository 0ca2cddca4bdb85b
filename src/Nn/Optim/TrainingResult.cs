namespace Engine.Nn;

/// <summary>What a <see cref="Trainer"/> run did.</summary>
/// <param name="FinalLoss">The last step's loss (NaN when no step was taken).</param>
/// <param name="Steps">Steps taken.</param>
/// <param name="Elapsed">Time the run took, evaluations included.</param>
/// <param name="TokensPerSecond">Tokens per second over the run (0 without <see cref="TrainerOptions.TokensPerStep"/>).</param>
public readonly record struct TrainingResult(double FinalLoss, int Steps, TimeSpan Elapsed, double TokensPerSecond);

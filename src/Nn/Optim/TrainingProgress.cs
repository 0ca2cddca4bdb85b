namespace Engine.Nn;

/// <summary>Where a <see cref="Trainer"/> run stands after a step.</summary>
/// <param name="Completed">Steps done so far (1 after the first step).</param>
/// <param name="Steps">Steps the run takes in all.</param>
/// <param name="Loss">This step's loss (with the model's regularisation terms, what was minimised).</param>
/// <param name="TokensPerSecond">Tokens processed per second since the start (0 without <see cref="TrainerOptions.TokensPerStep"/>).</param>
/// <param name="Elapsed">Time since the start of the run.</param>
public readonly record struct TrainingProgress(int Completed, int Steps, double Loss, double TokensPerSecond, TimeSpan Elapsed);

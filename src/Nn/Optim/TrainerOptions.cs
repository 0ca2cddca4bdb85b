namespace Engine.Nn;

/// <summary>What a <see cref="Trainer"/> does around each step.</summary>
/// <param name="Steps">Optimiser steps to take.</param>
/// <param name="Schedule">Learning-rate schedule applied before each step (0-based step numbers); null keeps the rates.</param>
/// <param name="MaxGradNorm">Global L2 norm the trainable parameters' gradients are clipped to; null: no clipping.</param>
/// <param name="TokensPerStep">Tokens in one step's batch, for the tokens/s figures (0 when it does not apply).</param>
/// <param name="EvaluateEvery">Steps between calls of <paramref name="Evaluate"/> (which also runs after the last step); 0: only after the last step.</param>
/// <param name="Evaluate">Called with the number of steps done (1..Steps); the model is put back in training mode after it.</param>
/// <param name="Progress">Called after every step.</param>
/// <param name="HessianSample">For an <see cref="IHessianEstimating"/> optimiser (Sophia-G): the loss on labels sampled
/// from the model (given the 0-based step), run after a step whose estimate is due; ignored for other optimisers.</param>
public sealed record TrainerOptions(
    int Steps,
    ILrSchedule? Schedule = null,
    double? MaxGradNorm = null,
    long TokensPerStep = 0,
    int EvaluateEvery = 0,
    Action<int>? Evaluate = null,
    Action<TrainingProgress>? Progress = null,
    Func<int, HessianSample>? HessianSample = null);

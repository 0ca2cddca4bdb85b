namespace Engine.Cli.Plots;

/// <summary>
/// The losses a command recorded while it trained: one <see cref="Run"/> per trained model (state-tracking trains four,
/// long-range two), each with the training loss of every step and the validation losses the command computed.
/// <code>var curve = new LossCurve(); var run = curve.Add("lora"); run.Training.Add((1, 3.2)); run.Validation.Add((0, 3.5));</code>
/// </summary>
public sealed class LossCurve
{
    readonly List<Run> _runs = [];

    /// <summary>One trained model: its label and its (step, loss) pairs; steps count completed optimiser steps.</summary>
    public sealed class Run(string label)
    {
        /// <summary>The legend's name for the run.</summary>
        public string Label { get; set; } = label;

        /// <summary>Training loss after each step (1-based step numbers).</summary>
        public List<(int Step, double Loss)> Training { get; } = [];

        /// <summary>Validation losses, at the steps they were computed (0: before training).</summary>
        public List<(int Step, double Loss)> Validation { get; } = [];
    }

    /// <summary>The runs in the order they were added.</summary>
    public IReadOnlyList<Run> Runs => _runs;

    /// <summary>True when nothing was recorded (no picture to draw).</summary>
    public bool IsEmpty => _runs.All(r => r.Training.Count == 0 && r.Validation.Count == 0);

    /// <summary>Starts a run named <paramref name="label"/>.</summary>
    public Run Add(string label)
    {
        var run = new Run(label);
        _runs.Add(run);
        return run;
    }
}

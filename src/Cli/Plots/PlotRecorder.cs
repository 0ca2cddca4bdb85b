using Engine.Nn;

namespace Engine.Cli.Plots;

/// <summary>
/// What one command run with <c>--plot</c> records for its pictures: the loss curve, the final rank map of an
/// adaptive-rank adapter, the zoo's points. The recorder of the running command is ambient (an async-local set by
/// <see cref="PlotOption"/>), so a training loop deep in a shared job takes part with one call and no new parameter;
/// without <c>--plot</c> every call does nothing. A command run inside another (the zoo's pretraining) records nothing
/// for its parent.
/// <code>var options = PlotRecorder.Observe(new TrainerOptions(steps), model);</code>
/// </summary>
public sealed class PlotRecorder
{
    static readonly AsyncLocal<PlotRecorder?> Ambient = new();
    string? _nextLabel;

    /// <summary>The recorder of the running command, or null when it was not given <c>--plot</c>.</summary>
    public static PlotRecorder? Current => Ambient.Value;

    /// <summary>The losses recorded so far.</summary>
    public LossCurve Losses { get; } = new();

    /// <summary>The ranks of the last trained model with an adaptive-rank adapter, or null.</summary>
    public RankMap? Ranks { get; private set; }

    /// <summary>The zoo's points, its loss before fine-tuning and its job line, or null outside the zoo.</summary>
    public (IReadOnlyList<ZooPoint> Points, double? Before, string Subtitle)? Zoo { get; private set; }

    /// <summary>Makes <paramref name="recorder"/> (or none) current until the result is disposed.</summary>
    public static IDisposable Use(PlotRecorder? recorder)
    {
        var previous = Ambient.Value;
        Ambient.Value = recorder;
        return new Restore(previous);
    }

    sealed class Restore(PlotRecorder? previous) : IDisposable
    {
        public void Dispose() => Ambient.Value = previous;
    }

    /// <summary>
    /// <paramref name="options"/> with the training loss of every step recorded as a new run of the loss curve and,
    /// after the last step, the rank map of <paramref name="model"/> when its adapter adapts ranks; unchanged without
    /// a recorder.
    /// </summary>
    public static TrainerOptions Observe(TrainerOptions options, Module? model = null)
    {
        if (Current is not { } recorder) return options;
        var run = recorder.RunForTraining();
        var inner = options.Progress;
        return options with
        {
            Progress = p =>
            {
                inner?.Invoke(p);
                run.Training.Add((p.Completed, p.Loss));
                if (p.Completed == p.Steps && model is not null && RankMap.Of(model) is { } map) recorder.Ranks = map;
            },
        };
    }

    /// <summary>Records a validation loss after <paramref name="step"/> steps (0: before training) and returns it.</summary>
    public static double Validation(int step, double loss)
    {
        if (Current is { } recorder) (recorder.Losses.Runs.LastOrDefault() ?? recorder.NewRun()).Validation.Add((step, loss));
        return loss;
    }

    /// <summary>Names the next run of the loss curve (commands that train several models).</summary>
    public static void Label(string label)
    {
        if (Current is { } recorder) recorder._nextLabel = label;
    }

    /// <summary>Records the zoo's results: trainable parameters and loss after fine-tuning per method.</summary>
    public static void ZooResults(IReadOnlyList<ZooPoint> points, double? before, string subtitle)
    {
        if (Current is { } recorder) recorder.Zoo = (points, before, subtitle);
    }

    // A run with validation losses but no training yet (finetune's loss before training) is the run that trains next.
    LossCurve.Run RunForTraining()
    {
        if (Losses.Runs.LastOrDefault() is { Training.Count: 0 } pending)
        {
            if (_nextLabel is not null) pending.Label = _nextLabel;
            _nextLabel = null;
            return pending;
        }
        return NewRun();
    }

    LossCurve.Run NewRun()
    {
        var run = Losses.Add(_nextLabel ?? $"run {Losses.Runs.Count + 1}");
        _nextLabel = null;
        return run;
    }

    /// <summary>Writes every recorded picture that <paramref name="files"/> has a place for; returns the paths written.</summary>
    public List<string> Write(PlotFiles files, string title)
    {
        var written = new List<string>();
        if (files.Loss is not null && !Losses.IsEmpty)
        {
            LossCurvePlot.Write(Losses, title, files.Loss);
            written.Add(files.Loss);
        }
        if (files.Ranks is not null && Ranks is not null)
        {
            RankMapPlot.Write(Ranks, files.Ranks);
            written.Add(files.Ranks);
        }
        if (files.Zoo is not null && Zoo is { } zoo)
        {
            ZooChart.Write(zoo.Points, zoo.Before, zoo.Subtitle, files.Zoo);
            written.Add(files.Zoo);
        }
        return written;
    }
}

using System.Diagnostics;

namespace Engine.Cli;

/// <summary>A one-line live progress bar (step, loss, tokens/s, ETA) redrawn in place on a terminal, printed periodically otherwise.</summary>
sealed class ProgressLine(long totalSteps)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly bool _interactive = !Console.IsOutputRedirected;
    long _tokens;
    double _lastPrinted = double.NegativeInfinity;

    public void Update(long step, double loss, long tokensThisStep)
    {
        _tokens += tokensThisStep;
        double elapsed = _clock.Elapsed.TotalSeconds;
        if (!_interactive && elapsed - _lastPrinted < 10 && step != totalSteps) return;
        _lastPrinted = elapsed;
        double rate = _tokens / Math.Max(elapsed, 1e-9);
        double eta = step > 0 ? elapsed / step * (totalSteps - step) : 0;
        int width = 24, filled = (int)(width * step / Math.Max(totalSteps, 1));
        string bar = new string('#', filled) + new string('.', width - filled);
        string line = $"[{bar}] step {step}/{totalSteps}  loss {loss:F4}  {rate,8:F0} tok/s  ETA {Format(TimeSpan.FromSeconds(eta))}";
        if (_interactive) Console.Write("\r" + line);
        else Console.WriteLine(line);
    }

    /// <summary>Ends the live line so normal output can follow.</summary>
    public void Break()
    {
        if (_interactive) Console.WriteLine();
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>A duration as <c>mm:ss</c>, or <c>h:mm:ss</c> from one hour on (hours are never dropped).</summary>
    public static string Format(TimeSpan duration)
    {
        long seconds = (long)Math.Round(Math.Max(0, duration.TotalSeconds));
        long hours = seconds / 3600, minutes = seconds / 60 % 60;
        return hours > 0 ? $"{hours}:{minutes:00}:{seconds % 60:00}" : $"{minutes:00}:{seconds % 60:00}";
    }
}

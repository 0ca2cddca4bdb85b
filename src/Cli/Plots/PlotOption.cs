using System.CommandLine;
using System.CommandLine.Invocation;

namespace Engine.Cli.Plots;

/// <summary>
/// The <c>--plot</c> option of the training commands and the zoo: added to a command whose action is already set, it
/// runs that action with a <see cref="PlotRecorder"/> and, when the action succeeds, writes the recorded pictures
/// where <see cref="PlotFiles"/> says (one line per file on stdout). Without <c>--plot</c> the action runs with no
/// recorder, even inside another command's run.
/// <code>command.SetAction(...); PlotOption.AddTo(command, r => PlotFiles.NextTo(r.GetValue(output)!));</code>
/// </summary>
static class PlotOption
{
    public static void AddTo(Command command, Func<ParseResult, PlotFiles> files, string description = "write SVG pictures (loss curve; AdaLoRA rank map) next to the output")
    {
        var plot = new Option<bool>("--plot") { Description = description };
        command.Options.Add(plot);
        var inner = command.Action as SynchronousCommandLineAction
            ?? throw new InvalidOperationException($"PlotOption: set the action of '{command.Name}' before adding --plot");
        command.SetAction(r =>
        {
            // Where the pictures go is checked before the command runs, as every output path is: a run never ends by
            // failing to write what it drew.
            var destination = r.GetValue(plot) ? files(r) : null;
            foreach (var path in new[] { destination?.Loss, destination?.Ranks, destination?.Zoo })
                if (path is not null && OutputPath.FileProblem(path) is { } problem)
                    throw new ArgumentException($"--plot: {problem}");
            var recorder = destination is null ? null : new PlotRecorder();
            int code;
            using (PlotRecorder.Use(recorder)) code = inner.Invoke(r);
            if (code != 0 || recorder is null) return code;
            string title = "engine " + string.Join(' ', r.Tokens.Select(t => t.Value).Where(t => t != "--plot"));
            foreach (var path in recorder.Write(destination!, title)) Console.WriteLine($"plot: {path}");
            return 0;
        });
    }
}

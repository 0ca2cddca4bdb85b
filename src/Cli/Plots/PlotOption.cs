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
            var recorder = r.GetValue(plot) ? new PlotRecorder() : null;
            int code;
            using (PlotRecorder.Use(recorder)) code = inner.Invoke(r);
            if (code != 0 || recorder is null) return code;
            // A failure to write a picture reaches the command's error boundary like any other (one line, exit 2).
            string title = "engine " + string.Join(' ', r.Tokens.Select(t => t.Value).Where(t => t != "--plot"));
            foreach (var path in recorder.Write(files(r), title)) Console.WriteLine($"plot: {path}");
            return 0;
        });
    }
}

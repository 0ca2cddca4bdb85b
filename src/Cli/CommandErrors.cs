using System.CommandLine;
using System.Text.Json;

namespace Engine.Cli;

/// <summary>
/// The one error boundary that every command runs inside. A failure the user can cause and fix (a bad path, file,
/// value or size, a training run that diverged) becomes one line on stderr, <c>engine &lt;command&gt;: &lt;message&gt;</c>,
/// and exit code 2; anything else is a bug, reported in one line with exit code 1. <c>--verbose</c> adds the stack trace.
/// </summary>
static class CommandErrors
{
    /// <summary>Exit code of a failure the user can fix.</summary>
    public const int UserError = 2;

    /// <summary>Exit code of an unexpected failure (a bug).</summary>
    public const int InternalError = 1;

    /// <summary>Runs the parsed command <paramref name="result"/> and reports its failure as described above.</summary>
    public static int Invoke(ParseResult result, string command, bool verbose)
    {
        try
        {
            // The library's own handler would print the whole exception; this boundary decides what the user sees.
            return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception thrown)
        {
            var e = Unwrap(thrown);
            bool expected = IsUserError(e);
            string message = expected ? e.Message
                : e is OutOfMemoryException ? "out of memory; lower the sizes given (length, width, batch, count, rank)"
                : $"internal error ({e.GetType().Name}): {e.Message} (run again with --verbose for the stack trace)";
            Console.Error.WriteLine($"{command}: {OneLine(message)}");
            if (verbose) Console.Error.WriteLine(e.ToString());
            return expected || e is OutOfMemoryException ? UserError : InternalError;
        }
    }

    /// <summary>Whether <paramref name="e"/> is a failure the user caused and can fix.</summary>
    public static bool IsUserError(Exception e) => e is IOException or InvalidDataException or ArgumentException or JsonException
        or UnauthorizedAccessException or KeyNotFoundException or NotSupportedException or TrainingDivergedException;

    static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        System.Reflection.TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => e,
    };

    static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

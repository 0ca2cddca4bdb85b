using System.Text.Json;

namespace Engine.Cli;

/// <summary>
/// Turns the failures a user can cause (bad paths, bad files, bad arguments) into one line on stderr,
/// <c>engine &lt;command&gt;: &lt;message&gt;</c>, and exit code 2; anything else is a bug and propagates.
/// </summary>
static class CommandErrors
{
    public const int UserError = 2;

    /// <summary>Runs <paramref name="body"/> and reports a user error of <paramref name="command"/> on stderr.</summary>
    public static int Run(string command, Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or JsonException
            or UnauthorizedAccessException or KeyNotFoundException)
        {
            // IOException covers FileNotFoundException, DirectoryNotFoundException and SafetensorsFormatException.
            Console.Error.WriteLine($"engine {command}: {e.Message}");
            return UserError;
        }
    }
}

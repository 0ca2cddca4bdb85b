namespace Engine.Cli;

/// <summary>
/// The rules for paths a command writes, checked before any work starts so that a run never ends by failing to save
/// what it computed: a file is not a folder, a folder is not a file, and the nearest existing folder on the way can be
/// written to. Missing folders are created when the result is saved (<see cref="PrepareFile"/>).
/// </summary>
static class OutputPath
{
    /// <summary>Why <paramref name="path"/> cannot be written as a file, or null when it can.</summary>
    public static string? FileProblem(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) return "no path given";
        if (Directory.Exists(path)) return $"'{path}' is a folder; give a file name inside it";
        return FolderOnTheWayProblem(path, Path.GetDirectoryName(Full(path)));
    }

    /// <summary>Why <paramref name="path"/> cannot be written as a folder, or null when it can.</summary>
    public static string? FolderProblem(string? path)
    {
        if (string.IsNullOrWhiteSpace(path)) return "no path given";
        if (File.Exists(path)) return $"'{path}' is a file; give a folder (an existing file is never overwritten)";
        return FolderOnTheWayProblem(path, Full(path));
    }

    /// <summary>Creates the folder of the file <paramref name="path"/> when it is missing.</summary>
    public static void PrepareFile(string path)
    {
        if (Path.GetDirectoryName(Full(path)) is { Length: > 0 } folder) Directory.CreateDirectory(folder);
    }

    static string Full(string path)
    {
        try { return Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return path; }
    }

    // The folder that would hold the output: each missing level can be created, and the nearest existing one written to.
    static string? FolderOnTheWayProblem(string path, string? folder)
    {
        while (folder is { Length: > 0 } && !Directory.Exists(folder))
        {
            if (File.Exists(folder)) return $"cannot create '{path}': '{folder}' is a file, not a folder";
            folder = Path.GetDirectoryName(folder);
        }
        if (folder is not { Length: > 0 }) return null;
        try
        {
            // A probe file deleted on close: the only reliable answer to "may I write here" across file systems.
            using var probe = new FileStream(Path.Combine(folder, $".engine-write-check-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write,
                FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot write '{path}': the folder '{folder}' is not writable ({e.Message})";
        }
    }
}

using System.Text.RegularExpressions;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// The temporary files that saves write before renaming them into place: <c>.{file name}.{32 hex digits}.tmp</c> in the
/// target's own folder (a rename within one folder is atomic; across file systems it is a copy). A writer keeps its
/// temporary open with an exclusive share mode (an exclusive <c>flock</c> on Linux and macOS) until it has renamed it,
/// so a temporary that can be opened exclusively belongs to no live writer: it was left by a save that was killed,
/// and the next save deletes it.
/// </summary>
internal static partial class TemporaryFile
{
    [GeneratedRegex(@"^\.(?<target>.+)\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex Pattern();

    /// <summary>A fresh temporary name for <paramref name="fileName"/> (a name, not a path).</summary>
    public static string NameFor(string fileName) => $".{fileName}.{Guid.NewGuid():N}.tmp";

    /// <summary>True when <paramref name="name"/> is a temporary name; <paramref name="target"/> is the file it stands for.</summary>
    public static bool IsTemporary(string name, out string target)
    {
        var match = Pattern().Match(name);
        target = match.Success ? match.Groups["target"].Value : "";
        return match.Success;
    }

    /// <summary>
    /// Creates a temporary for writing. Exclusive until disposed; on Windows it shares only deletion, so that it can be
    /// renamed while still open (renaming an open file needs nothing on Unix).
    /// </summary>
    public static FileStream Create(string path)
        => new(path, FileMode.CreateNew, FileAccess.Write, OperatingSystem.IsWindows() ? FileShare.Delete : FileShare.None, bufferSize: 1 << 16);

    /// <summary>
    /// Deletes the temporaries in <paramref name="folder"/> that <paramref name="belongs"/> selects (by target name),
    /// except those in <paramref name="keep"/> and those a live writer holds open. Best effort: a file that cannot be
    /// opened or deleted stays.
    /// </summary>
    public static void DeleteAbandoned(string folder, Func<string, bool> belongs, IReadOnlySet<string> keep)
    {
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(folder, ".*.tmp").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var path in candidates)
        {
            string name = Path.GetFileName(path);
            if (!IsTemporary(name, out var target) || !belongs(target) || keep.Contains(name)) continue;
            try
            {
                // Opening fails while its writer holds it; DeleteOnClose removes it as this handle closes.
                using var abandoned = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}

namespace Engine.Docs.Tests;

/// <summary>
/// Runs an example the way a reader would, from a folder that looks like the repository (the files it reads, copied
/// from the repository) and that receives whatever it writes; the folder is deleted afterwards.
/// </summary>
sealed class ScratchFolder : IDisposable
{
    readonly string _previous = Environment.CurrentDirectory;

    public ScratchFolder(params string[] repositoryPaths)
    {
        Path = Directory.CreateTempSubdirectory("engine-docs-").FullName;
        foreach (var relative in repositoryPaths) Copy(RepositoryFolder.PathOf(relative), System.IO.Path.Combine(Path, relative));
        Environment.CurrentDirectory = Path;
    }

    public string Path { get; }

    static void Copy(string source, string target)
    {
        if (File.Exists(source))
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(source, target);
            return;
        }
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            Copy(file, System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(source, file)));
    }

    public void Dispose()
    {
        Environment.CurrentDirectory = _previous;
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Captures what a piece of code writes to the console.</summary>
static class ConsoleOutput
{
    public static (T Result, string Text) Capture<T>(Func<T> run)
    {
        var previous = Console.Out;
        var writer = new StringWriter();
        Console.SetOut(writer);
        try { return (run(), writer.ToString().Replace("\r\n", "\n")); }
        finally { Console.SetOut(previous); }
    }
}

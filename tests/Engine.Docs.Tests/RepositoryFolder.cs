namespace Engine.Docs.Tests;

/// <summary>The repository's root (the folder holding Engine.sln), found upward from the test's output folder.</summary>
static class RepositoryFolder
{
    public static string Root { get; } = Find();

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no Engine.sln above {AppContext.BaseDirectory}: the docs tests read README.md and docs/ from the repository");
    }

    public static string PathOf(string relative) => Path.Combine(Root, relative);
}

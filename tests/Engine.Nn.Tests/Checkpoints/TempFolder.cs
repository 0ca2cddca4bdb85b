namespace Engine.Nn.Tests.Checkpoints;

/// <summary>A fresh folder per test, deleted afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "engine-safetensors-" + Guid.NewGuid().ToString("N"))).FullName;
    }

    public string Root { get; }

    public string File(string name) => Path.Combine(Root, name);

    /// <summary>File names currently in the folder, sorted.</summary>
    public string[] Listing() => Directory.EnumerateFileSystemEntries(Root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

namespace Engine.Nn.Checkpoints;

/// <summary>
/// Saves and prepares for reading the folders that <c>from_pretrained</c>-style loaders read (a GPT-2 checkpoint, a
/// PEFT adapter): all files of a save replace the old ones as one unit through <see cref="FolderTransaction"/>, so a
/// save killed at any point leaves the old version or the new one.
/// Example: <c>PretrainedFolder.Save("out", PretrainedFile.Json("config.json", config), PretrainedFile.Safetensors("model.safetensors", tensors));</c>
/// </summary>
public static class PretrainedFolder
{
    /// <summary>Writes <paramref name="files"/> into <paramref name="folder"/> (created if missing) as one atomic save; other files stay.</summary>
    /// <exception cref="IOException">Another save to the folder is in progress, or the disk failed (the old files are then intact).</exception>
    public static void Save(string folder, params IReadOnlyList<PretrainedFile> files)
    {
        using var save = FolderTransaction.Begin(folder);
        foreach (var file in files) save.Write(file.Name, file.Write);
        save.Commit();
    }

    /// <summary>
    /// Call before reading a folder: completes a save that was killed after it committed and deletes abandoned
    /// temporaries (see <see cref="FolderTransaction.Recover"/>). Returns true when it completed an interrupted save.
    /// </summary>
    public static bool Recover(string folder) => FolderTransaction.Recover(folder);
}

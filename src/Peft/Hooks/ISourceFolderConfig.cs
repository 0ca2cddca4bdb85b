namespace Engine.Peft;

/// <summary>
/// A configuration that names other files relative to its own folder (X-LoRA's <c>adapters</c>, the folders of its
/// LoRA experts): <see cref="AdapterFiles.Load"/> tells it the folder it was read from.
/// </summary>
public interface ISourceFolderConfig
{
    /// <summary>This configuration, read from <paramref name="folder"/>.</summary>
    PeftConfig FromFolder(string folder);
}

namespace Engine.Nn.Checkpoints;

/// <summary>
/// A safetensors file that breaks the format: the message names the file, the tensor and the byte offset where they apply.
/// Derives from <see cref="IOException"/> because <see cref="InvalidDataException"/> is sealed; a caller that catches
/// I/O failures around a load catches this too.
/// Example: <c>catch (SafetensorsFormatException e) { Console.Error.WriteLine(e.Message); }</c>
/// </summary>
public sealed class SafetensorsFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/> with a message that already names the tensor and offset.</summary>
    public SafetensorsFormatException(string path, string message, Exception? inner = null)
        : base($"safetensors file '{path}': {message}", inner)
    {
        FilePath = path;
    }

    /// <summary>The file that failed to validate.</summary>
    public string FilePath { get; }
}

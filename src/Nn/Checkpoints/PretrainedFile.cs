using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// One file of a pretrained folder: its name in the folder and what writes its bytes. The factories validate
/// everything up front, so a bad tensor or name fails before <see cref="PretrainedFolder.Save"/> writes anything.
/// Example: <c>PretrainedFile.Json("config.json", config)</c>, <c>PretrainedFile.Safetensors("model.safetensors", tensors)</c>.
/// </summary>
/// <param name="Name">The file's name in the folder (no folders).</param>
/// <param name="Write">Writes the whole file to the stream (without disposing it).</param>
public sealed record PretrainedFile(string Name, Action<Stream> Write)
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A JSON file, indented, UTF-8 without a byte order mark.</summary>
    public static PretrainedFile Json(string name, JsonNode json)
    {
        var bytes = Encoding.UTF8.GetBytes(json.ToJsonString(Indented));
        return new(name, stream => stream.Write(bytes));
    }

    /// <summary>A safetensors file, as <see cref="Checkpoints.Safetensors.Save"/> writes it.</summary>
    /// <exception cref="ArgumentException">As <see cref="Checkpoints.Safetensors.Save"/>: a bad name, tensor or storage type.</exception>
    public static PretrainedFile Safetensors(string name, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, SafetensorsDType? storeFloat32As = null)
        => new(name, SafetensorsWriter.Prepare(tensors, metadata, storeFloat32As));
}

using System.Text;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>Builds safetensors bytes by hand from the spec: u64 little-endian header length, the JSON as given, the data.</summary>
public static class RawSafetensors
{
    public static byte[] Build(string headerJson, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(headerJson);
        return [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. data];
    }

    public static string Write(TempFolder folder, string headerJson, byte[] data, string name = "raw.safetensors")
    {
        var path = folder.File(name);
        File.WriteAllBytes(path, Build(headerJson, data));
        return path;
    }

    /// <summary>The header JSON padded with spaces to a multiple of 8 bytes, as the reference writer pads it.</summary>
    public static string Padded(string json) => json + new string(' ', (8 - Encoding.UTF8.GetByteCount(json) % 8) % 8);
}

namespace Engine.Nn.Checkpoints;

/// <summary>
/// Reads and writes the Hugging Face safetensors format: an 8-byte little-endian header length, a JSON header, then raw
/// little-endian row-major tensor data. Reads validate strictly; writes are atomic.
/// Example: <c>Safetensors.Save("ckpt.safetensors", model.StateDict()); var state = Safetensors.Load("ckpt.safetensors");</c>
/// </summary>
public static class Safetensors
{
    /// <summary>
    /// Writes <paramref name="tensors"/> (sorted by name, contiguous data) and optional string <paramref name="metadata"/> to
    /// <paramref name="path"/>, replacing it atomically. Float32 tensors are stored as <paramref name="storeFloat32As"/>
    /// (F32 by default; F16/BF16 round to nearest even); other dtypes keep their own type.
    /// Example: <c>Safetensors.Save("w.safetensors", new Dictionary&lt;string, Tensor&gt; { ["w"] = w }, storeFloat32As: SafetensorsDType.BF16);</c>
    /// </summary>
    /// <exception cref="ArgumentException">A name is null or <c>__metadata__</c>, a tensor is null, or the storage type is not a float type.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null, SafetensorsDType? storeFloat32As = null)
        => SafetensorsWriter.Save(path, tensors, metadata, storeFloat32As);

    /// <summary>
    /// Writes like <see cref="Save"/>
    /// with a storage type per tensor where <paramref name="storageOf"/> names one (Float32 as F16 for compressed factors,
    /// Int32 bytes as U8 for packed bits); the others keep their own type.
    /// Example: <c>Safetensors.SaveWithStorage("b.safetensors", tensors, meta, new Dictionary&lt;string, SafetensorsDType&gt; { ["u"] = SafetensorsDType.F16 });</c>
    /// </summary>
    /// <exception cref="ArgumentException">A tensor cannot be stored as the type asked for it (wrong dtype, or a byte out of 0..255).</exception>
    public static void SaveWithStorage(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata,
        IReadOnlyDictionary<string, SafetensorsDType> storageOf)
        => SafetensorsWriter.Save(path, tensors, metadata, null, storageOf: storageOf);

    /// <summary>
    /// Reads every tensor of <paramref name="path"/>, in file order.
    /// Example: <c>var state = Safetensors.Load("model.safetensors"); var w = state["lm_head.weight"];</c>
    /// </summary>
    /// <exception cref="SafetensorsFormatException">The file breaks the format.</exception>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using var file = Open(path);
        var tensors = new Dictionary<string, Tensor>(file.Names.Count, StringComparer.Ordinal);
        foreach (var name in file.Names) tensors.Add(name, file.Read(name));
        return tensors;
    }

    /// <summary>
    /// Validates the header of <paramref name="path"/> and maps the file; tensors are read one at a time, on demand.
    /// Example: <c>using var file = Safetensors.Open("model.safetensors"); var wte = file.Read("wte.weight");</c>
    /// </summary>
    /// <exception cref="SafetensorsFormatException">The file breaks the format.</exception>
    public static SafetensorsFile Open(string path) => SafetensorsFile.Open(path);
}

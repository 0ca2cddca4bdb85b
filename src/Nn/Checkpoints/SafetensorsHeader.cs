using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// The header of a safetensors file: an 8-byte little-endian length N, then N bytes of JSON mapping each tensor name to
/// <c>{"dtype", "shape", "data_offsets"}</c>, plus an optional <c>"__metadata__"</c> string map.
/// Parsing validates strictly, as the Hugging Face reference (safetensors/src/tensor.rs) does; formatting writes what it writes.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The reference implementation's bound on N (MAX_HEADER_SIZE), so a corrupt length never triggers a huge allocation.</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>
    /// The highest rank a stored tensor may have (PyTorch's own limit is also 64). Stricter than any model needs, and it keeps
    /// every per-dimension loop and recursion (printing, shape checks) small whatever the file says.
    /// </summary>
    public const int MaxRank = 64;

    /// <summary>The key reserved for the string-to-string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    SafetensorsHeader(List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>Entries in the order the JSON lists them.</summary>
    public List<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>Reads the 8-byte length prefix and checks it against the bound and the file size; returns N.</summary>
    public static long ReadLength(string path, ReadOnlySpan<byte> prefix, long fileLength)
    {
        if (fileLength < 8)
            throw new SafetensorsFormatException(path, $"file is {fileLength} bytes, shorter than the 8-byte header length prefix");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderLength)
            throw new SafetensorsFormatException(path, $"header length {n} (bytes 0..8) exceeds the {MaxHeaderLength}-byte limit");
        if ((long)n > fileLength - 8)
            throw new SafetensorsFormatException(path, $"header length {n} (bytes 0..8) runs past the end of the {fileLength}-byte file");
        return (long)n;
    }

    /// <summary>Parses and validates the JSON header; <paramref name="dataLength"/> is the number of bytes after it.</summary>
    public static SafetensorsHeader Parse(string path, byte[] json, long dataLength)
    {
        CheckUtf8(path, json);
        if (json.Length == 0 || json[0] != (byte)'{')
            throw new SafetensorsFormatException(path, "header JSON must be an object starting with '{' at byte 8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(path, $"header is not valid JSON (near header byte {8 + (e.BytePositionInLine ?? 0)} on line {e.LineNumber + 1}): {e.Message}", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(path, $"header JSON must be an object, got {root.ValueKind}");

            long dataStart = 8 + json.Length;
            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new SafetensorsFormatException(path, $"tensor '{property.Name}' appears twice in the header");
                if (property.Name == MetadataKey)
                    metadata = ParseMetadata(path, property.Value);
                else
                    tensors.Add(ParseEntry(path, property.Name, property.Value, dataLength, dataStart));
            }
            CheckCoverage(path, tensors, dataLength, dataStart);
            return new SafetensorsHeader(tensors, metadata);
        }
    }

    static void CheckUtf8(string path, ReadOnlySpan<byte> json)
    {
        for (int i = 0; i < json.Length;)
        {
            if (Rune.DecodeFromUtf8(json[i..], out _, out int consumed) != System.Buffers.OperationStatus.Done)
                throw new SafetensorsFormatException(path, $"header is not valid UTF-8 at file byte {8 + i}");
            i += consumed;
        }
    }

    static Dictionary<string, string> ParseMetadata(string path, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, $"'{MetadataKey}' must be an object mapping strings to strings, got {value.ValueKind}");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(path, $"'{MetadataKey}' key '{entry.Name}' must map to a string, got {entry.Value.ValueKind}");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new SafetensorsFormatException(path, $"'{MetadataKey}' key '{entry.Name}' appears twice");
        }
        return metadata;
    }

    static SafetensorsTensorInfo ParseEntry(string path, string name, JsonElement entry, long dataLength, long dataStart)
    {
        SafetensorsFormatException Fail(string message) => new(path, $"tensor '{name}': {message}");

        if (entry.ValueKind != JsonValueKind.Object)
            throw Fail($"entry must be an object with dtype, shape and data_offsets, got {entry.ValueKind}");
        JsonElement? dtypeField = null, shapeField = null, offsetsField = null;
        foreach (var field in entry.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeField;
            if (field.Name == "dtype") slot = ref dtypeField;
            else if (field.Name == "shape") slot = ref shapeField;
            else if (field.Name == "data_offsets") slot = ref offsetsField;
            else continue; // unknown fields are ignored, as serde does for the reference's TensorInfo
            if (slot is not null) throw Fail($"field '{field.Name}' appears twice");
            slot = field.Value;
        }

        if (dtypeField is not { } dtypeValue) throw Fail("missing 'dtype'");
        if (shapeField is not { } shapeValue) throw Fail("missing 'shape'");
        if (offsetsField is not { } offsetsValue) throw Fail("missing 'data_offsets'");

        if (dtypeValue.ValueKind != JsonValueKind.String) throw Fail($"'dtype' must be a string, got {dtypeValue.ValueKind}");
        string dtype = dtypeValue.GetString()!;
        if (!SafetensorsDTypes.TryGetReadable(dtype, out int elementSize, out var loadedAs))
            throw Fail($"unknown or unsupported dtype '{dtype}'; readable dtypes are {SafetensorsDTypes.ReadableList}");

        if (shapeValue.ValueKind != JsonValueKind.Array) throw Fail($"'shape' must be an array of integers, got {shapeValue.ValueKind}");
        if (shapeValue.GetArrayLength() > MaxRank)
            throw Fail($"'shape' has {shapeValue.GetArrayLength()} dimensions, more than the engine's limit of {MaxRank}");
        var shape = new int[shapeValue.GetArrayLength()];
        long numel = 1;
        bool overflow = false;
        int axis = 0;
        foreach (var dim in shapeValue.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size))
                throw Fail($"shape[{axis}] must be an integer, got {dim.GetRawText()}");
            if (size < 0) throw Fail($"shape[{axis}] is negative ({size})");
            if (size > int.MaxValue) throw Fail($"shape[{axis}] = {size} exceeds the engine's dimension limit {int.MaxValue}");
            shape[axis++] = (int)size;
            overflow |= !TryMultiply(numel, size, out numel);
        }
        if (overflow || !TryMultiply(numel, elementSize, out long byteLength))
            throw Fail($"element count of shape [{string.Join(',', shape)}] times {elementSize} bytes overflows");

        if (offsetsValue.ValueKind != JsonValueKind.Array || offsetsValue.GetArrayLength() != 2)
            throw Fail($"'data_offsets' must be an array [begin, end], got {offsetsValue.GetRawText()}");
        long begin = ReadOffset(offsetsValue[0], "begin"), end = ReadOffset(offsetsValue[1], "end");
        if (begin > end)
            throw Fail($"data_offsets [{begin},{end}] have begin > end (file bytes {dataStart + begin} > {dataStart + end})");
        if (end > dataLength)
            throw Fail($"data_offsets [{begin},{end}] end past the {dataLength}-byte data section (file byte {dataStart + end} > file length {dataStart + dataLength})");
        if (end - begin != byteLength)
            throw Fail($"dtype {dtype} with shape [{string.Join(',', shape)}] needs {byteLength} bytes, but data_offsets [{begin},{end}] span {end - begin} (file byte {dataStart + begin})");

        return new SafetensorsTensorInfo(name, dtype, elementSize, loadedAs, shape, numel, begin, end, dataStart);

        long ReadOffset(JsonElement value, string which)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long offset) || offset < 0)
                throw Fail($"data_offsets {which} must be a non-negative integer, got {value.GetRawText()}");
            return offset;
        }
    }

    static bool TryMultiply(long a, long b, out long product)
    {
        try
        {
            product = checked(a * b);
            return true;
        }
        catch (OverflowException)
        {
            product = 0;
            return false;
        }
    }

    /// <summary>The tensors' byte ranges must tile the data section exactly: no overlap, no gap, nothing after the last.</summary>
    static void CheckCoverage(string path, List<SafetensorsTensorInfo> tensors, long dataLength, long dataStart)
    {
        var byOffset = tensors.OrderBy(t => t.DataBegin).ThenBy(t => t.DataEnd).ToList();
        long covered = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (var t in byOffset)
        {
            if (t.DataBegin < covered)
                throw new SafetensorsFormatException(path, $"tensor '{t.Name}' data_offsets [{t.DataBegin},{t.DataEnd}] overlap tensor '{previous!.Name}' [{previous.DataBegin},{previous.DataEnd}] (at file byte {dataStart + t.DataBegin})");
            if (t.DataBegin > covered)
                throw new SafetensorsFormatException(path, $"tensor '{t.Name}' starts at data offset {t.DataBegin}, leaving a gap of {t.DataBegin - covered} unused bytes from data offset {covered} (file byte {dataStart + covered})");
            covered = t.DataEnd;
            previous = t;
        }
        if (covered != dataLength)
            throw new SafetensorsFormatException(path, $"data section has {dataLength - covered} bytes after the last tensor{(previous is null ? "" : $" '{previous.Name}'")}, from data offset {covered} (file byte {dataStart + covered}); tensors must cover it exactly");
    }

    /// <summary>
    /// The header bytes the reference writer produces: compact JSON with <c>__metadata__</c> first, then each tensor in the given
    /// order, padded with spaces so the data section starts 8-byte aligned.
    /// </summary>
    public static byte[] Format(IReadOnlyList<(string Name, SafetensorsDType DType, int[] Shape, long Begin, long End)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder("{");
        bool first = true;
        if (metadata is { Count: > 0 })
        {
            json.Append('"').Append(MetadataKey).Append("\":{");
            bool firstKey = true;
            foreach (var key in metadata.Keys.Order(StringComparer.Ordinal))
            {
                if (!firstKey) json.Append(',');
                AppendString(json, key).Append(':');
                AppendString(json, metadata[key]);
                firstKey = false;
            }
            json.Append('}');
            first = false;
        }
        foreach (var t in tensors)
        {
            if (!first) json.Append(',');
            AppendString(json, t.Name);
            json.Append(":{\"dtype\":\"").Append(t.DType.Name()).Append("\",\"shape\":[")
                .Append(string.Join(',', t.Shape)).Append("],\"data_offsets\":[")
                .Append(t.Begin).Append(',').Append(t.End).Append("]}");
            first = false;
        }
        json.Append('}');

        int length = Encoding.UTF8.GetByteCount(json.ToString());
        json.Append(' ', (8 - length % 8) % 8);
        return Encoding.UTF8.GetBytes(json.ToString());
    }

    /// <summary>A JSON string escaped as serde_json escapes it: quote, backslash and control characters only.</summary>
    static StringBuilder AppendString(StringBuilder json, string value)
    {
        json.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                default:
                    if (c < 0x20) json.Append("\\u").Append(((int)c).ToString("x4"));
                    else json.Append(c);
                    break;
            }
        }
        return json.Append('"');
    }
}

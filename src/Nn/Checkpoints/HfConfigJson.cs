using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// A Hugging Face <c>config.json</c> read strictly: invalid JSON, a repeated key, or a field of the wrong type gives an
/// <see cref="InvalidDataException"/> naming the file and the field, never a bare JSON or argument exception.
/// <see cref="Owner"/> names the loader in messages.
/// </summary>
public sealed class HfConfigJson
{
    readonly JsonObject _json;

    HfConfigJson(JsonObject json, string path, string owner) { _json = json; Path = path; Owner = owner; }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The loader named in messages (<c>BertCheckpoint</c>).</summary>
    public string Owner { get; }

    /// <summary>Reads <paramref name="folder"/>/config.json, first completing a killed save to the folder (<see cref="PretrainedFolder.Recover"/>).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">config.json is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not a JSON object, or repeats a key.</exception>
    public static HfConfigJson Read(string folder, string owner, string fileName = "config.json")
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{owner}: checkpoint folder '{folder}' does not exist");
        // A save killed after its commit record is completed first, so the config read matches the weights read next.
        PretrainedFolder.Recover(folder);
        var path = System.IO.Path.Combine(folder, fileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{owner}: '{folder}' has no {fileName}", path);
        try
        {
            // Parsed as a document first: JsonObject would throw a bare ArgumentException on a repeated key.
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{owner}: '{path}' is not a JSON object");
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
                if (!names.Add(property.Name)) throw new InvalidDataException($"{owner}: '{path}' field '{property.Name}' appears twice");
            return new HfConfigJson(JsonObject.Create(document.RootElement.Clone())!, path, owner);
        }
        catch (JsonException e) { throw new InvalidDataException($"{owner}: '{path}' is not valid JSON: {e.Message}", e); }
    }

    /// <summary>True when the field is present (even as null).</summary>
    public bool Has(string name) => _json.ContainsKey(name);

    /// <summary>An integer field, or null when absent.</summary>
    public int? Int(string name) => Get<int>(name, "an integer");

    /// <summary>A number field, or null when absent.</summary>
    public double? Double(string name) => Get<double>(name, "a number");

    /// <summary>A boolean field, or null when absent.</summary>
    public bool? Bool(string name) => Get<bool>(name, "true or false");

    /// <summary>A string field, or null when absent.</summary>
    public string? String(string name)
    {
        if (!_json.TryGetPropertyValue(name, out var node) || node is null) return null;
        try { return node.GetValue<string>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"{Owner}: '{Path}' field '{name}' is {node.ToJsonString()}, expected a string", e); }
    }

    /// <summary>A required integer field that must be positive.</summary>
    public int PositiveInt(string name)
    {
        int value = Int(name) ?? throw Missing(name);
        if (value <= 0) throw Invalid(name, $"is {value}; it must be positive");
        return value;
    }

    /// <summary>An exception for a field that is missing.</summary>
    public InvalidDataException Missing(string name) => new($"{Owner}: '{Path}' lacks the field '{name}'");

    /// <summary>An exception for a field whose value is wrong: <paramref name="problem"/> completes "field 'x' ...".</summary>
    public InvalidDataException Invalid(string name, string problem) => new($"{Owner}: '{Path}' field '{name}' {problem}");

    T? Get<T>(string name, string expected) where T : struct
    {
        if (!_json.TryGetPropertyValue(name, out var node) || node is null) return null;
        try { return node.GetValue<T>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"{Owner}: '{Path}' field '{name}' is {node.ToJsonString()}, expected {expected}", e); }
    }
}

namespace Engine.Cli;

/// <summary>The first-names data set shipped inside the executable (data/names, CC0; see data/names/LICENSE).</summary>
static class EmbeddedData
{
    public static List<string> Lines(string name)
    {
        using var stream = typeof(EmbeddedData).Assembly.GetManifestResourceStream(name)
            ?? throw new FileNotFoundException($"embedded data '{name}' is missing from the executable");
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
            if (line.Trim().Length > 0) lines.Add(line.Trim());
        return lines;
    }

    /// <summary>Lines of a UTF-8 file (<c>--data</c>), or of an embedded set named "female"/"male"/"all".</summary>
    public static List<string> Load(string source) => source switch
    {
        "female" => Lines("names/female.txt"),
        "male" => Lines("names/male.txt"),
        "all" => [.. Lines("names/female.txt"), .. Lines("names/male.txt")],
        _ => StrictUtf8.ReadLines(source, "--data"),
    };
}

using System.Text;

namespace Engine.Cli;

/// <summary>
/// Reads the text files users give (names, JSON lines, texts to embed) as strict UTF-8: an invalid byte sequence is an
/// error naming the file, the line and the byte offset, instead of silently becoming U+FFFD and then training data.
/// </summary>
static class StrictUtf8
{
    static readonly UTF8Encoding Encoding = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The whole text of <paramref name="path"/> (a leading byte-order mark dropped).</summary>
    /// <exception cref="InvalidDataException">The file is not valid UTF-8.</exception>
    public static string ReadAllText(string path, string option)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"{option}: '{path}' is a folder; give a text file");
        if (!File.Exists(path)) throw new FileNotFoundException($"{option}: no file at '{path}'", path);
        var bytes = File.ReadAllBytes(path);
        int start = bytes.AsSpan().StartsWith(Encoding.Preamble) ? Encoding.Preamble.Length : 0;
        try { return Encoding.GetString(bytes, start, bytes.Length - start); }
        catch (DecoderFallbackException e)
        {
            int offset = start + Math.Max(0, e.Index);
            int line = 1 + bytes.AsSpan(0, Math.Min(offset, bytes.Length)).Count((byte)'\n');
            throw new InvalidDataException($"{option}: '{path}' is not valid UTF-8: line {line}, byte offset {offset} (0x{bytes[Math.Min(offset, bytes.Length - 1)]:X2}); save it as UTF-8");
        }
    }

    /// <summary>The lines of <paramref name="path"/>, each trimmed, blank ones dropped.</summary>
    public static List<string> ReadLines(string path, string option) =>
        ReadAllText(path, option).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
}

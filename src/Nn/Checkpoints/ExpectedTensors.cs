namespace Engine.Nn.Checkpoints;

/// <summary>
/// Checks a safetensors file's header against the tensors a config implies, before any model is built: every expected
/// key present once with its shape and a floating dtype, nothing unexpected. A config describing a huge model thus fails in milliseconds
/// without allocating it. Keys are compared after <c>normalise</c> (which strips optional prefixes and
/// returns null for keys to ignore).
/// </summary>
public static class ExpectedTensors
{
    /// <exception cref="InvalidDataException">Keys are missing, unexpected, repeated, of the wrong shape or not floating point (named, with the file).</exception>
    public static void Check(SafetensorsFile file, IReadOnlyDictionary<string, int[]> expected, Func<string, string?> normalise, string path, string owner, string model)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var key in file.Names)
        {
            var name = normalise(key);
            if (name is null) continue;
            if (!expected.TryGetValue(name, out var shape)) { unexpected.Add(key); continue; }
            if (!seen.Add(name)) throw new InvalidDataException($"{owner}: '{path}' holds '{name}' twice (under two prefixes)");
            var info = file.Info(key);
            // Parameters are floating point; an integer tensor of the right shape would load as garbage weights.
            if (!info.IsFloatingPoint)
                throw new InvalidDataException($"{owner}: '{key}' in '{path}' has dtype {info.DType}; parameters must be F32, F64, F16 or BF16");
            var actual = info.Shape.ToArray();
            if (!actual.SequenceEqual(shape))
                throw new InvalidDataException($"{owner}: '{key}' in '{path}' has shape {Shapes.Format(actual)}, the config expects {Shapes.Format(shape)}");
        }
        var missing = expected.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"{owner}: '{path}' does not match the {model} of its config: " +
                $"missing keys [{List(missing)}]; unexpected keys [{List(unexpected)}]");
    }

    static string List(List<string> keys) => string.Join(", ", keys.Take(20)) + (keys.Count > 20 ? $", ... ({keys.Count} in all)" : "");
}

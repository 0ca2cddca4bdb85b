namespace Engine.Peft;

/// <summary>
/// What a layer gets when an adapter is added to it: the adapter's name and configuration, the module's path, the
/// adapted model (for shared tensors and model parts) and a generator of its own.
/// </summary>
public sealed class AdapterContext
{
    internal AdapterContext(string name, PeftConfig config, ModulePath path, PeftModel? model, AdapterModelPart? part,
        bool fromFile = false, IReadOnlyDictionary<string, int[]>? fileShapes = null, object? calibration = null)
    {
        Calibration = calibration;
        FromFile = fromFile;
        FileShapes = fileShapes;
        Name = name;
        Config = config;
        Path = path;
        Model = model;
        ModelPart = part;
        // One stable stream per (seed, module path, adapter): no two layers start with the same numbers, and the
        // same seed gives the same adapter in every process (FNV-1a; string.GetHashCode differs between processes).
        Generator = GeneratorFor(config.Seed, path.Engine, name);
    }

    /// <summary>The generator of adapter <paramref name="adapterName"/> at <paramref name="path"/> for <paramref name="seed"/> (null means 0).</summary>
    public static Generator GeneratorFor(ulong? seed, string path, string adapterName) => new(Mix(seed ?? 0, path + "\0" + adapterName));

    /// <summary>The adapter's name.</summary>
    public string Name { get; }

    /// <summary>The adapter's configuration.</summary>
    public PeftConfig Config { get; }

    /// <summary>Where the adapted module sits.</summary>
    public ModulePath Path { get; }

    /// <summary>The adapted model, or null when a layer is used on its own.</summary>
    public PeftModel? Model { get; }

    /// <summary>The adapter's model part (shared tensors...), or null when the method has none.</summary>
    public AdapterModelPart? ModelPart { get; }

    /// <summary>
    /// True when a file's tensors will replace the initial ones (<see cref="AdapterFiles.Load"/>): a method may then
    /// build placeholders for what it could not create on its own (SHiRA's custom mask, read from the file's indices).
    /// </summary>
    public bool FromFile { get; }

    /// <summary>
    /// The shapes of the adapter file's tensors by full file key, while the adapter is planned or built for loading
    /// a file (<see cref="AdapterFiles.Load"/>); null otherwise. For methods whose sizes depend on something the file
    /// does not record in its config (AdaMSS's per-layer cluster sizes): the layer reads them with <see cref="FileShape"/>.
    /// </summary>
    public IReadOnlyDictionary<string, int[]>? FileShapes { get; }

    /// <summary>The shape of this module's tensor <paramref name="suffix"/> (<c>adamss_B.0</c>) in the file being loaded,
    /// or null when no file is being loaded or the file lacks it.</summary>
    public int[]? FileShape(string suffix) =>
        FileShapes is { } shapes && shapes.TryGetValue(AdapterFiles.KeyPrefix + Path.External + "." + suffix, out var shape) ? shape : null;

    /// <summary>
    /// This module's share of what a calibrated initialisation found (<see cref="ICalibratedConfig"/>: input statistics,
    /// gradients), or null when the configuration needs no data or a file is being loaded.
    /// </summary>
    public object? Calibration { get; }

    /// <summary>The calibration share as the method's type.</summary>
    public T CalibrationAs<T>() where T : class => Calibration as T
        ?? throw new InvalidOperationException($"adapter '{Name}' at '{Path.External}': expected calibration data of type {typeof(T).Name}, got {Calibration?.GetType().Name ?? "none"}");

    /// <summary>The generator of this module's random initialisation.</summary>
    public Generator Generator { get; }

    /// <summary>The configuration as the method's record.</summary>
    public T ConfigAs<T>() where T : PeftConfig => Config as T
        ?? throw new ArgumentException($"adapter '{Name}' at '{Path.External}': expected a {typeof(T).Name}, got {Config.GetType().Name}");

    /// <summary>The model part as the method's type.</summary>
    public T ModelPartAs<T>() where T : AdapterModelPart => ModelPart as T
        ?? throw new InvalidOperationException($"adapter '{Name}' at '{Path.External}': the method's model part {typeof(T).Name} is missing");

    /// <summary>A context for a layer used without a <see cref="PeftModel"/> (tests, custom models).</summary>
    public static AdapterContext Standalone(string name, PeftConfig config, string path = "layer") => new(name, config, new ModulePath(path, path), null, null);

    static ulong Mix(ulong seed, string s)
    {
        ulong h = 14695981039346656037 ^ seed;
        foreach (char ch in s) h = (h ^ ch) * 1099511628211;
        return h ^ (h >> 29);
    }
}

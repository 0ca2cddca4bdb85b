namespace Engine.Backends;

/// <summary>
/// A flat buffer of elements owned by a backend. The tensor front end never looks inside:
/// it hands storages to the backend that made them, so a device buffer fits as well as a managed array.
/// </summary>
public abstract class Storage
{
    protected Storage(DType dtype, long length)
    {
        DType = dtype;
        Length = length;
    }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>The backend that owns this buffer and runs kernels on it.</summary>
    public abstract IBackend Backend { get; }
}

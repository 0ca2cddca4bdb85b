using Xunit;

namespace Engine.Tests;

/// <summary>
/// Tests that change a process-wide setting (<see cref="Engine.Backends.Cpu.CpuThreading.MaxThreads"/>,
/// <see cref="TensorLimits.MaxTensorBytes"/>) run alone, after the parallel tests, so no other test sees the changed value.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public class ProcessWideSettingsCollection
{
    public const string Name = "ProcessWideSettings";
}

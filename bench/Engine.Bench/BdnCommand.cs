using BenchmarkDotNet.Running;

namespace Engine.Bench;

/// <summary>Hands the remaining arguments (--filter, --job, ...) to BenchmarkDotNet's switcher.</summary>
internal static class BdnCommand
{
    public static int Run(string[] args)
    {
        Console.WriteLine(MachineInfo.Header());
        BenchmarkSwitcher.FromAssembly(typeof(BdnCommand).Assembly).Run(args);
        return 0;
    }
}

using System.Diagnostics;
using Engine.Tests.Shared;

// The process that tests/Engine.Peft.Tests/SaveKillTests.cs kills at random points: it saves versions A and B of one
// kind of folder alternately, forever, starting with <first>, and prints "saved <version> <microseconds>" after each
// completed save. "ready" follows a warm-up (both versions saved once into <folder>.warmup), so that the saves the
// test kills are steady-state ones.
// Usage: dotnet Engine.SaveKillChild.dll gpt|adapter <folder> A|B

if (args.Length != 3 || args[0] is not (SaveKillVersions.GptKind or SaveKillVersions.AdapterKind) || args[2] is not ("A" or "B"))
{
    Console.Error.WriteLine("usage: Engine.SaveKillChild gpt|adapter <folder> A|B");
    return 2;
}
string kind = args[0], folder = args[1];
char first = args[2][0];
var save = new Dictionary<char, Action<string>>
{
    [first] = SaveKillVersions.Saver(kind, first),
    [SaveKillVersions.Other(first)] = SaveKillVersions.Saver(kind, SaveKillVersions.Other(first)),
};
string warmup = folder.TrimEnd('/', '\\') + ".warmup";
save['A'](warmup);
save['B'](warmup);
Console.WriteLine("ready");
var clock = new Stopwatch();
for (char version = first; ; version = SaveKillVersions.Other(version))
{
    clock.Restart();
    save[version](folder);
    Console.WriteLine($"saved {version} {clock.Elapsed.TotalMicroseconds:F0}");
}

using Engine.Autograd;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.LowRank;

namespace Engine.Tests.Shared;

/// <summary>
/// The two versions, A and B, that the save kill test alternates (tests/Engine.SaveKillChild writes them,
/// tests/Engine.Peft.Tests/SaveKillTests.cs checks what a killed save left). The versions differ in every tensor and
/// in a config field that still loads with the other version's weights (layer-norm epsilon, LoRA alpha), so a folder
/// holding one version's config and the other's weights loads and is caught as a mix.
/// </summary>
static class SaveKillVersions
{
    /// <summary>The kinds of folder: a GPT-2 checkpoint folder or a PEFT adapter folder.</summary>
    public const string GptKind = "gpt", AdapterKind = "adapter";

    /// <summary>A small GPT-2 (about 0.9 MB of weights), so that a save takes milliseconds.</summary>
    public static Gpt Gpt(char version) =>
        (Gpt)new Gpt(new GptConfig(512, 64, 64, 4, 4, LayerNormEps: version == 'A' ? 1e-5 : 2e-5), new Generator(version == 'A' ? 1UL : 2UL)).Eval();

    /// <summary>The base the adapters apply to (the same for both versions).</summary>
    public static Gpt AdapterBase() => (Gpt)new Gpt(new GptConfig(64, 32, 32, 2, 2), new Generator(3)).Eval();

    /// <summary>A LoRA adapter on <see cref="AdapterBase"/>.</summary>
    public static PeftModel Adapter(char version) => Peft.Peft.Apply(AdapterBase(), new LoraConfig
    {
        R = 4, LoraAlpha = version == 'A' ? 8 : 16, TargetModules = ["qkv", "proj", "fc"],
        InitLoraWeights = LoraInit.Random, Seed = version == 'A' ? 11UL : 12UL,
    });

    /// <summary>Saves version <paramref name="version"/> of <paramref name="kind"/> into <paramref name="folder"/>.</summary>
    public static Action<string> Saver(string kind, char version)
    {
        if (kind == GptKind)
        {
            var gpt = Gpt(version);
            return folder => Gpt2Checkpoint.Save(gpt, folder);
        }
        var peft = Adapter(version);
        return folder => peft.SavePretrained(folder);
    }

    /// <summary>The other version.</summary>
    public static char Other(char version) => version == 'A' ? 'B' : 'A';
}

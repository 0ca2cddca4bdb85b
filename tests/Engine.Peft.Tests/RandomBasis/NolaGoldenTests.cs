using Engine.Nn.Checkpoints;
using Engine.Peft.RandomBasis;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.RandomBasis;

/// <summary>
/// NOLA's golden folder (tests/golden/make_gpt2_nola_golden.py: the reference's math in plain PyTorch). The file holds
/// only the coefficients; the script regenerates the frozen bases with its own numpy restatement of the engine's
/// generator (Philox4x32-10, checked against Random123's known answer, and the seed derivation) and writes them to
/// <c>bases.safetensors</c>, which the engine's regenerated bases must equal bit for bit. The logits and gradients
/// then check the adapter math on top of those bases.
/// </summary>
public class NolaGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-nola";

    [Fact]
    public void NolaAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(Fixture, 4);

    [Fact]
    public void NolaAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(Fixture, output);

    [Fact]
    public void RegeneratedBases_EqualThePythonRestatementOfTheGenerator_BitForBit()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", Fixture);
        var expected = Safetensors.Load(Path.Combine(folder, "bases.safetensors"));
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder);
        int checkedLayers = 0;
        foreach (var (_, layer) in peft.AdapterLayers())
        {
            var nola = (NolaLayer)layer;
            var path = nola.PathOf("default").External;
            var b = nola.Bases("default");
            Assert.Equal(expected[path + ".A0"].ToDoubleArray(), b.A0.ToDoubleArray());
            Assert.Equal(expected[path + ".P"].ToDoubleArray(), b.P.ToDoubleArray());
            Assert.Equal(expected[path + ".Q"].ToDoubleArray(), b.Q.ToDoubleArray());
            checkedLayers++;
        }
        Assert.Equal(4, checkedLayers);
        Assert.Equal(3 * 4, expected.Count);
    }
}

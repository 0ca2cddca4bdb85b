using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// What the CorDA and LoRA-GA golden tests share (tests/golden/make_gpt2_calibrated_golden.py): the fixture's
/// calibration batches (init.safetensors' calibration_ids, one sequence each) as <see cref="CalibrationData"/> with the
/// next-token loss, and the comparison of the engine's initialisation with PyTorch's factors A0, B0.
/// </summary>
static class CalibratedGolden
{
    public static Dictionary<string, Tensor> Init(string fixture) =>
        Safetensors.Load(Path.Combine(AppContext.BaseDirectory, "golden", fixture, "init.safetensors"));

    /// <summary>The fixture's calibration batches run through <paramref name="gpt"/>, with the script's loss.</summary>
    public static Func<Gpt, CalibrationData> Data(string fixture)
    {
        var ids = Init(fixture)["calibration_ids"];
        return gpt => new CalibrationData(ids.Size(0), i =>
        {
            var batch = ids.Select(0, i).Contiguous();
            return PeftGoldenCheck.NextTokenLoss(gpt.Forward(batch), batch);
        });
    }

    /// <summary>
    /// Adds <paramref name="config"/> to the GPT-2 fixture with the fixture's data and returns, per adapted layer (by
    /// Hugging Face path), the engine's layer, the original base weight [out, in] and PyTorch's A0, B0 of case
    /// <paramref name="prefix"/> (Float64).
    /// </summary>
    public static List<(string Path, LoraLayer Layer, Tensor Original, Tensor A0, Tensor B0)> Initialise(string fixture, string prefix, LoraConfig config)
    {
        var init = Init(fixture);
        var original = Gpt2Checkpoint.Load(Gpt2Folder).NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.To(DType.Float64));
        var gpt = Gpt2Checkpoint.Load(Gpt2Folder);
        var peft = Peft.Apply(gpt, config, calibration: Data(fixture)(gpt));
        var layers = new List<(string, LoraLayer, Tensor, Tensor, Tensor)>();
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            string hf = peft.PathOf(path).External;
            layers.Add((hf, (LoraLayer)layer, original[path + ".weight"], init[$"{prefix}.{hf}.A"].To(DType.Float64), init[$"{prefix}.{hf}.B"].To(DType.Float64)));
        }
        Assert.Equal(6, layers.Count);
        return layers;
    }

    /// <summary>max |expected - actual| / max |expected|.</summary>
    public static double Relative(Tensor expected, Tensor actual) => PeftGoldenCheck.RelativeError(expected.To(DType.Float64), actual.To(DType.Float64));
}

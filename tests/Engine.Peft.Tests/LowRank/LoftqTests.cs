using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoftQ (Li et al. 2023) and its quantiser against PEFT's math computed independently in PyTorch
/// (tests/golden/make_gpt2_loftq_golden.py, gpt2-tiny-loftq/loftq_init.safetensors) and against the paper's property:
/// the error ‖W − Q − B A‖_F does not grow with the alternating iterations and is below plain quantisation's ‖W − Q₀‖_F.
/// </summary>
public class LoftqTests
{
    static readonly Dictionary<string, Tensor> Golden =
        Safetensors.Load(Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-loftq", "loftq_init.safetensors"));

    // bitsandbytes' NF4 code as its source lists it (functional.py), the table PEFT 0.20 quantises 4 bits with.
    static readonly float[] BitsandbytesNf4 =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
        -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    static float[] F(Tensor t) => t.To(DType.Float32).ToArray<float>();

    static int[] Bits(IEnumerable<float> values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    // ‖W − Q − s B A‖_F with plain loops in double (not the engine's tensor ops).
    static double NaiveError(Tensor w, Tensor q, Tensor? a, Tensor? b, double s = 1)
    {
        var (wd, qd) = (w.ToDoubleArray(), q.ToDoubleArray());
        int outF = w.Size(0), inF = w.Size(1);
        double[]? ba = a is null ? null : NaiveProduct(b!.ToDoubleArray(), a.ToDoubleArray(), outF, a.Size(0), inF);
        double sum = 0;
        for (int i = 0; i < wd.Length; i++)
        {
            double e = wd[i] - qd[i] - (ba is null ? 0 : s * ba[i]);
            sum += e * e;
        }
        return Math.Sqrt(sum);
    }

    [Fact]
    public void NormalTables_AreBitsandbytesNf4AndPeftsTables_BitForBit()
    {
        Assert.Equal(Bits(BitsandbytesNf4), Bits(NormalFloatQuantizer.NormalTable(4)));
        Assert.Equal(Bits(F(Golden["table.nf4"])), Bits(NormalFloatQuantizer.NormalTable(4)));
        Assert.Equal(Bits(F(Golden["table.nf2"])), Bits(NormalFloatQuantizer.NormalTable(2)));
        // The uniform table is torch.linspace(-1, 1, 16), whose vectorised kernel differs from the scalar rule by ulps.
        var uniform = NormalFloatQuantizer.UniformTable(4);
        var torch = F(Golden["table.uniform4"]);
        for (int i = 0; i < uniform.Length; i++) Assert.True(Math.Abs(uniform[i] - torch[i]) <= 1e-7, $"uniform level {i}: {uniform[i]} vs {torch[i]}");
    }

    [Theory]
    [InlineData("nf4", 4)]
    [InlineData("nf2", 2)]
    public void NormalQuantisation_MatchesPeftsNfQuantizer_BitForBit(string name, int bits)
    {
        var quantizer = new NormalFloatQuantizer(bits);
        var weight = Golden["weight"];
        var (codes, scales) = quantizer.Quantize(F(weight));
        Assert.Equal(Golden[$"{name}.codes"].To(DType.Int64).ToArray<long>(), codes.Select(c => (long)c).ToArray());
        Assert.Equal(Bits(F(Golden[$"{name}.scales"])), Bits(scales));
        Assert.Equal(Bits(F(Golden[$"{name}.dequantized"])), Bits(quantizer.Dequantize(codes, scales)));
        Assert.Equal(Bits(F(Golden[$"{name}.dequantized"])), Bits(F(quantizer.FakeQuantize(weight))));
        Assert.Equal(weight.Shape, quantizer.FakeQuantize(weight).Shape);
    }

    [Fact]
    public void UniformQuantisation_MatchesPeftsNfQuantizer_ToFloat32Rounding()
    {
        // mean + 2.5 std is a float reduction whose rounding depends on the summation order: equal to an ulp or so.
        var quantizer = new NormalFloatQuantizer(4, QuantizationKind.Uniform);
        var (codes, scales) = quantizer.Quantize(F(Golden["weight"]));
        var torchScales = F(Golden["uniform4.scales"]);
        for (int i = 0; i < scales.Length; i++) Assert.True(Math.Abs(scales[i] - torchScales[i]) <= 1e-6 * Math.Abs(torchScales[i]), $"scale {i}: {scales[i]} vs {torchScales[i]}");
        var torchCodes = Golden["uniform4.codes"].To(DType.Int64).ToArray<long>();
        // A code may flip only for a value within rounding of a midpoint between two levels.
        Assert.True(codes.Where((c, i) => c != torchCodes[i]).Count() <= 2, "more than 2 uniform codes differ from PyTorch's");
        var values = quantizer.Dequantize(codes, scales);
        var torchValues = F(Golden["uniform4.dequantized"]);
        for (int i = 0; i < values.Length; i++)
            if (codes[i] == torchCodes[i]) Assert.True(Math.Abs(values[i] - torchValues[i]) <= 1e-6 * Math.Abs(torchScales[i / 64]) + 1e-12, $"value {i}");
    }

    [Fact]
    public void Quantisation_OfADequantisedWeight_GivesItBack_AndALastPartialBlockHasItsOwnScale()
    {
        // The tables hold -1 and 1, so a block's largest |w| survives quantisation and every level maps to itself: a
        // LoftQ file loaded onto PEFT's saved, already quantised backbone gives the same base (see the loading test).
        foreach (int bits in new[] { 2, 4 })
        {
            var quantizer = new NormalFloatQuantizer(bits);
            var once = quantizer.FakeQuantize(Golden["weight"]);
            Assert.Equal(Bits(F(once)), Bits(F(quantizer.FakeQuantize(once))));
        }
        var values = Enumerable.Range(0, 91).Select(i => (float)Math.Sin(i * 0.7) * (i < 64 ? 1 : 3)).ToArray();
        var (_, scales) = new NormalFloatQuantizer(4).Quantize(values);
        Assert.Equal(2, scales.Length);
        Assert.Equal(values[..64].Max(v => Math.Abs(v)), scales[0]);
        Assert.Equal(values[64..].Max(v => Math.Abs(v)), scales[1]);
    }

    [Theory]
    [InlineData("loftq1", 4, 1)]
    [InlineData("loftq2", 4, 2)]
    [InlineData("loftq4", 4, 4)]
    [InlineData("loftq2bit", 2, 1)]
    public void LoftqInit_MatchesPeftsLoftqInit(string name, int bits, int iterations)
    {
        var (a, b, q) = LoftqInit.Compute(Golden["weight"], 4, bits, iterations);
        var torchQ = F(Golden[$"{name}.Q"]);
        var engineQ = F(q);
        // One step quantises W itself: the same Q bit for bit. Later steps quantise W - L R, whose rounding depends on
        // the SVD routine (LAPACK's Float32 against the engine's Float64): a block's largest |value| may move by an ulp
        // (its 64 values with it), and a value within rounding of a midpoint between two levels may flip its code.
        if (iterations == 1) Assert.Equal(Bits(torchQ), Bits(engineQ));
        else
        {
            double qScale = torchQ.Max(v => Math.Abs(v));
            int flipped = engineQ.Where((v, i) => Math.Abs(v - torchQ[i]) > 1e-5 * qScale).Count();
            Assert.True(flipped <= engineQ.Length / 100, $"{name}: {flipped} of {engineQ.Length} quantised values differ by more than rounding");
        }
        // Each singular pair's sign is free; B A is not.
        var ba = (b.To(DType.Float64) % a.To(DType.Float64)).ToDoubleArray();
        var torchBa = (Golden[$"{name}.B"].To(DType.Float64) % Golden[$"{name}.A"].To(DType.Float64)).ToDoubleArray();
        double scale = torchBa.Max(v => Math.Abs(v));
        for (int i = 0; i < ba.Length; i++) Assert.True(Math.Abs(ba[i] - torchBa[i]) <= 1e-5 * scale, $"{name}: (B A)[{i}] {ba[i]} vs {torchBa[i]}");
        Assert.Equal(Golden[$"{name}.A"].Shape, a.Shape);
        Assert.Equal(Golden[$"{name}.B"].Shape, b.Shape);
    }

    [Fact]
    public void LoftqError_DoesNotGrowWithIterations_AndIsBelowPlainQuantisation()
    {
        // Li et al. 2023, section 3.1: alternating quantisation and SVD lowers ||W - Q - B A||_F below ||W - Q0||_F.
        var w = Golden["weight"];
        double plain = NaiveError(w, new NormalFloatQuantizer(4).FakeQuantize(w), null, null);
        var errors = new[] { 1, 2, 4 }.Select(t =>
        {
            var (a, b, q) = LoftqInit.Compute(w, 4, 4, t);
            return NaiveError(w, q, a, b);
        }).ToArray();
        Assert.True(errors[0] < plain, $"one step {errors[0]} is not below plain NF4 {plain}");
        Assert.True(errors[1] <= errors[0] && errors[2] <= errors[1], $"errors over 1, 2, 4 steps grow: {string.Join(", ", errors)}");
        Assert.True(errors[2] < 0.99 * errors[0], $"four steps {errors[2]} barely improve on one {errors[0]}");
        // The same errors as PyTorch's factors give.
        var torchErrors = new[] { 1, 2, 4 }.Select(t => NaiveError(w, Golden[$"loftq{t}.Q"], Golden[$"loftq{t}.A"], Golden[$"loftq{t}.B"])).ToArray();
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(errors[i] - torchErrors[i]) <= 1e-3 * torchErrors[i], $"error {i}: {errors[i]} vs PyTorch's {torchErrors[i]}");
        // A larger rank approximates the residual better.
        var (a8, b8, q8) = LoftqInit.Compute(w, 8, 4, 1);
        Assert.True(NaiveError(w, q8, a8, b8) < errors[0]);
    }

    static LoraConfig Loftq(int r, double alpha, int iterations = 1) =>
        new() { R = r, LoraAlpha = alpha, InitLoraWeights = LoraInit.Loftq, LoftqConfig = new() { LoftqIter = iterations }, TargetModules = ["qkv", "proj", "fc"] };

    [Fact]
    public void Layer_BaseBecomesTheDequantisedWeight_FullRankStartsAtW_AndDeletingRestoresW()
    {
        var linear = new Linear(32, 24, bias: true, new Generator(3));
        var original = F(linear.Weight);
        var expectedQ = F(new NormalFloatQuantizer(4).FakeQuantize(linear.Weight));
        var layer = new LoraLayer(linear);
        layer.AddAdapter(AdapterContext.Standalone("a", Loftq(24, 24), "layer"));
        Assert.Equal(Bits(expectedQ), Bits(F(linear.Weight)));
        // Full rank, s = 1: Q + B A is W to Float32 rounding; the update left in the adapter is W - Q.
        var start = F(linear.Weight.To(DType.Float64) + layer.DeltaWeight("a").To(DType.Float64));
        for (int i = 0; i < original.Length; i++) Assert.True(Math.Abs(start[i] - original[i]) <= 1e-5, $"(Q + B A)[{i}] {start[i]} vs W {original[i]}");
        layer.DeleteAdapter("a");
        Assert.Equal(Bits(original), Bits(F(linear.Weight)));
    }

    [Fact]
    public void Loading_ComputesQFromTheOriginalBase_AndLeavesAnAlreadyQuantisedBaseAsItIs()
    {
        var config = Loftq(2, 4, iterations: 2);
        var peft = Peft.Apply(TinyGpt(), config);
        Scramble(peft.TrainableParameters().First(), 5);
        var expected = peft.Forward(Ids()).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(Ids()).ToDoubleArray());
            // PEFT's quantize_save_load.py saves the backbone with Q in it: quantising it again changes nothing.
            var quantisedBase = (Gpt)Peft.Apply(TinyGpt(), config).Unload();
            Assert.Equal(expected, Peft.FromPretrained(quantisedBase, folder).Forward(Ids()).ToDoubleArray());
            // ... and its adapter_config says init_lora_weights: true: plain LoRA on that backbone, the same model.
            var path = Path.Combine(folder, "adapter_config.json");
            var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            json["init_lora_weights"] = true;
            json["loftq_config"] = new JsonObject();
            File.WriteAllText(path, json.ToJsonString());
            var plain = Peft.FromPretrained((Gpt)Peft.Apply(TinyGpt(), config).Unload(), folder);
            Assert.Equal(LoraInit.Default, ((LoraConfig)plain.PeftConfigs["default"]).InitLoraWeights);
            Assert.Equal(expected, plain.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Config_ReadsPeftsFieldsAndRefusesWhatLoftqCannotDo()
    {
        // PEFT writes loftq_config: {} when unset; it reads back as unset.
        var plain = PeftConfigJson.ToJson(new LoraConfig());
        Assert.Equal("{}", plain["loftq_config"]!.ToJsonString());
        Assert.Null(((LoraConfig)PeftConfigJson.FromJson(plain)).LoftqConfig);

        var json = PeftConfigJson.ToJson(new LoraConfig { InitLoraWeights = LoraInit.Loftq, LoftqConfig = new() { LoftqBits = 2, LoftqIter = 3 } });
        Assert.Equal(new LoftqConfig { LoftqBits = 2, LoftqIter = 3 }, ((LoraConfig)PeftConfigJson.FromJson(json)).LoftqConfig);

        json["loftq_config"] = new JsonObject();
        Assert.Contains("loftq_config", Assert.Throws<InvalidDataException>(() => PeftConfigJson.FromJson(json)).Message);
        json["loftq_config"] = new JsonObject { ["loftq_bits"] = 8 };
        Assert.Contains("loftq_bits", Assert.Throws<NotSupportedException>(() => PeftConfigJson.FromJson(json)).Message);
        json["loftq_config"] = new JsonObject { ["loftq_bits"] = 3 };
        Assert.Contains("loftq_bits", Assert.Throws<InvalidDataException>(() => PeftConfigJson.FromJson(json)).Message);
        json["loftq_config"] = new JsonObject { ["loftq_iter"] = 0 };
        Assert.Contains("loftq_iter", Assert.Throws<InvalidDataException>(() => PeftConfigJson.FromJson(json)).Message);

        // The rank cannot exceed the weight's smaller side (the tiny GPT's width is 8).
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Loftq(9, 9)));
        Assert.Contains("LoftQ", e.Message);
    }
}

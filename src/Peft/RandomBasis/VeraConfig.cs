using System.Text.Json.Nodes;

namespace Engine.Peft.RandomBasis;

/// <summary>
/// VeRA (Kopiczko et al. 2024): one pair of frozen random matrices shared by every adapted layer, with trainable
/// scaling vectors d [r] and b [out] per layer. PEFT's field names and defaults (r 256, d_initial 0.1).
/// <code>var peft = Peft.Apply(gpt, new VeraConfig { R = 64, TargetModules = ["c_attn"] });</code>
/// </summary>
public sealed record VeraConfig : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "VERA";

    /// <summary>Rank r of the shared random matrices.</summary>
    public int R { get; init; } = 256;

    /// <summary>Seed of the shared random matrices (PEFT's <c>projection_prng_key</c>; the engine's generator, not torch's).</summary>
    public ulong ProjectionPrngKey { get; init; }

    /// <summary>Write the shared matrices into the adapter file (needed to load them elsewhere).</summary>
    public bool SaveProjection { get; init; } = true;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double VeraDropout { get; init; }

    /// <summary>Initial value of every entry of d.</summary>
    public double DInitial { get; init; } = 0.1;

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <inheritdoc/>
    public override bool SavesSharedTensors => SaveProjection;

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) => new VeraLayer(baseLayer);

    /// <summary>Name of shared matrix <paramref name="which"/> ("A" or "B") of an adapter in <see cref="PeftModel.Shared"/>.</summary>
    public static string SharedName(string which, string adapterName) => $"vera_{which}_{adapterName}";

    /// <summary>
    /// Creates the shared A [r, max in] and B [max out, r] once (Kaiming-uniform with gain sqrt 2 as PEFT's
    /// <c>_kaiming_init</c>, from <see cref="ProjectionPrngKey"/>) and hands them to every layer of the adapter.
    /// </summary>
    public override void OnAdapterAdded(PeftModel model, string adapterName)
    {
        var layers = model.AdapterLayers().Select(l => l.Layer).OfType<VeraLayer>().Where(l => l.AdapterNames.Contains(adapterName)).ToList();
        int maxIn = layers.Max(l => l.InFeatures), maxOut = layers.Max(l => l.OutFeatures);
        var dtype = layers[0].BaseLayer.Weight.DType;
        var generator = new Generator(ProjectionPrngKey);
        var a = Uniform([R, maxIn], maxIn, dtype, generator);
        var b = Uniform([maxOut, R], R, dtype, generator);
        model.Shared.Add(SharedName("A", adapterName), a, trainable: false);
        model.Shared.Add(SharedName("B", adapterName), b, trainable: false);
        foreach (var layer in layers) layer.AttachShared(adapterName, model.Shared);
    }

    // U(-bound, bound), bound = sqrt 3 * sqrt 2 / sqrt fan_in.
    static Tensor Uniform(int[] shape, int fanIn, DType dtype, Generator generator)
    {
        double bound = Math.Sqrt(3) * Math.Sqrt(2) / Math.Sqrt(fanIn);
        return Tensor.Rand(shape, -bound, bound, dtype, generator);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> SharedTensors(PeftModel model, string adapterName)
    {
        // PEFT keeps them on the tuner (base_model.vera_A.<name>) and strips the adapter name in files.
        yield return ("base_model.vera_A", model.Shared[SharedName("A", adapterName)]);
        yield return ("base_model.vera_B", model.Shared[SharedName("B", adapterName)]);
    }

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["r"] = R;
        json["projection_prng_key"] = ProjectionPrngKey;
        json["save_projection"] = SaveProjection;
        json["vera_dropout"] = VeraDropout;
        json["d_initial"] = DInitial;
        json["fan_in_fan_out"] = FanInFanOut;
        json["bias"] = "none";
        json["init_weights"] = true;
        return json;
    }

    /// <summary>Reads PEFT's <c>adapter_config.json</c> of a VeRA adapter.</summary>
    public static new VeraConfig FromJson(JsonObject json)
    {
        var config = new VeraConfig
        {
            R = json["r"]?.GetValue<int>() ?? 256,
            ProjectionPrngKey = json["projection_prng_key"]?.GetValue<ulong>() ?? 0,
            SaveProjection = json["save_projection"]?.GetValue<bool>() ?? true,
            VeraDropout = json["vera_dropout"]?.GetValue<double>() ?? 0,
            DInitial = json["d_initial"]?.GetValue<double>() ?? 0.1,
            FanInFanOut = json["fan_in_fan_out"]?.GetValue<bool>() ?? false,
        };
        return ReadCommon(config, json);
    }
}

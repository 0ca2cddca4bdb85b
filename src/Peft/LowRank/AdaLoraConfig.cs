using System.Text.Json.Nodes;

namespace Engine.Peft.LowRank;

/// <summary>
/// AdaLoRA (Zhang et al. 2023): an SVD-like update P diag(lambda) Q whose rank budget shrinks during training from
/// <see cref="InitR"/> to <see cref="TargetR"/> per layer on a cubic schedule, keeping the triplets with the highest
/// sensitivity-times-uncertainty importance. PEFT's field names and defaults; <see cref="TotalStep"/> is required.
/// Call <see cref="PeftModel.OnStep"/> every step after the optimiser step and add
/// <see cref="AdaLoraOrthogonality.Penalty"/> to the loss.
/// <code>var peft = Peft.Apply(gpt, new AdaLoraConfig { InitR = 12, TargetR = 4, TotalStep = 1000, TargetModules = ["c_attn"] });</code>
/// </summary>
public sealed record AdaLoraConfig : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "ADALORA";

    /// <summary>Rank of every layer at the start (the budget is InitR times the number of layers).</summary>
    public int InitR { get; init; } = 12;

    /// <summary>Average rank per layer at the end.</summary>
    public int TargetR { get; init; } = 8;

    /// <summary>Warm-up steps before any masking (t_init).</summary>
    public int Tinit { get; init; }

    /// <summary>Final steps at the target budget, with the rank pattern fixed (t_final).</summary>
    public int Tfinal { get; init; }

    /// <summary>Steps between two reallocations (Delta T).</summary>
    public int DeltaT { get; init; } = 1;

    /// <summary>EMA coefficient of the sensitivity.</summary>
    public double Beta1 { get; init; } = 0.85;

    /// <summary>EMA coefficient of the uncertainty.</summary>
    public double Beta2 { get; init; } = 0.85;

    /// <summary>Weight gamma of the orthogonality regulariser.</summary>
    public double OrthRegWeight { get; init; } = 0.5;

    /// <summary>Total training steps T (required, positive).</summary>
    public int TotalStep { get; init; }

    /// <summary>alpha: the update is scaled by alpha / ranknum (ranknum = InitR); alpha &lt;= 0 means InitR.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>
    /// Kept triplets per layer, keyed <c>&lt;module path&gt;.lora_E</c> (PEFT's <c>rank_pattern</c>), set when the
    /// budget schedule reaches its final phase; a loaded adapter is built with only the kept triplets.
    /// </summary>
    public IReadOnlyDictionary<string, bool[]>? RankPattern { get; init; }

    /// <summary>Seed of the initialisation of P and Q; null uses the global generator.</summary>
    public ulong? Seed { get; init; }

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) => new AdaLoraLayer(baseLayer);

    /// <summary>The mask of kept triplets of the module at <paramref name="path"/>, or null before the pattern is fixed.</summary>
    public bool[]? MaskFor(ModulePath path) =>
        RankPattern is { } p && p.TryGetValue(path.External + ".lora_E", out var mask) ? mask : null;

    /// <summary>Checks the schedule (PEFT's validation).</summary>
    /// <exception cref="ArgumentException">TotalStep is not positive, ranks are invalid, or the phases overlap.</exception>
    public void Validate()
    {
        if (TotalStep <= 0) throw new ArgumentException($"AdaLoraConfig: total_step must be positive, got {TotalStep}");
        if (InitR < 1 || TargetR < 0 || TargetR > InitR) throw new ArgumentException($"AdaLoraConfig: need 1 <= init_r and 0 <= target_r <= init_r, got init_r {InitR}, target_r {TargetR}");
        if (Tinit >= TotalStep - Tfinal) throw new ArgumentException($"AdaLoraConfig: tinit {Tinit} must be below total_step - tfinal = {TotalStep - Tfinal}; no steps are left for the budget schedule");
        if (DeltaT < 1) throw new ArgumentException($"AdaLoraConfig: deltaT must be at least 1, got {DeltaT}");
        if (OrthRegWeight < 0) throw new ArgumentException($"AdaLoraConfig: orth_reg_weight must be non-negative, got {OrthRegWeight}");
    }

    /// <inheritdoc/>
    public override void OnAdapterAdded(PeftModel model, string adapterName)
    {
        if (InferenceMode) return;
        Validate();
        model.AddStepHook(new AdaLoraAllocator(adapterName, Beta1, Beta2));
    }

    /// <inheritdoc/>
    public override (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, string adapterName, Dictionary<string, Tensor> tensors)
    {
        if (RankPattern is null) return (this, tensors);
        // PEFT saves only the kept triplets: rows of lora_A and lora_E, columns of lora_B (resize_state_dict_by_rank_pattern).
        var resized = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
        foreach (var (key, mask) in RankPattern)
        {
            string module = AdapterFiles.KeyPrefix + key[..^".lora_E".Length];
            if (!resized.ContainsKey(module + ".lora_E") || resized[module + ".lora_E"].Size(0) != mask.Length) continue;
            var keep = Tensor.FromArray(Enumerable.Range(0, mask.Length).Where(i => mask[i]).Select(i => (long)i).ToArray());
            resized[module + ".lora_A"] = resized[module + ".lora_A"].IndexSelect(0, keep).Contiguous();
            resized[module + ".lora_E"] = resized[module + ".lora_E"].IndexSelect(0, keep).Contiguous();
            resized[module + ".lora_B"] = resized[module + ".lora_B"].IndexSelect(1, keep).Contiguous();
        }
        return (this, resized);
    }

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["r"] = 8;
        json["lora_alpha"] = LoraAlpha;
        json["lora_dropout"] = LoraDropout;
        json["bias"] = "none";
        json["fan_in_fan_out"] = FanInFanOut;
        json["use_rslora"] = false;
        json["use_dora"] = false;
        json["init_lora_weights"] = true;
        json["target_r"] = TargetR;
        json["init_r"] = InitR;
        json["tinit"] = Tinit;
        json["tfinal"] = Tfinal;
        json["deltaT"] = DeltaT;
        json["beta1"] = Beta1;
        json["beta2"] = Beta2;
        json["orth_reg_weight"] = OrthRegWeight;
        json["total_step"] = TotalStep;
        json["rank_pattern"] = RankPattern is null ? null
            : new JsonObject(RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.Select(b => (JsonNode?)b).ToArray()))));
        return json;
    }

    /// <summary>Reads PEFT's <c>adapter_config.json</c> of an AdaLoRA adapter.</summary>
    public static new AdaLoraConfig FromJson(JsonObject json)
    {
        var config = new AdaLoraConfig
        {
            InitR = json["init_r"]?.GetValue<int>() ?? 12,
            TargetR = json["target_r"]?.GetValue<int>() ?? 8,
            Tinit = json["tinit"]?.GetValue<int>() ?? 0,
            Tfinal = json["tfinal"]?.GetValue<int>() ?? 0,
            DeltaT = json["deltaT"]?.GetValue<int>() ?? 1,
            Beta1 = json["beta1"]?.GetValue<double>() ?? 0.85,
            Beta2 = json["beta2"]?.GetValue<double>() ?? 0.85,
            OrthRegWeight = json["orth_reg_weight"]?.GetValue<double>() ?? 0.5,
            TotalStep = json["total_step"]?.GetValue<int>() ?? 0,
            LoraAlpha = json["lora_alpha"]?.GetValue<double>() ?? 8,
            LoraDropout = json["lora_dropout"]?.GetValue<double>() ?? 0,
            FanInFanOut = json["fan_in_fan_out"]?.GetValue<bool>() ?? false,
            RankPattern = (json["rank_pattern"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray().Select(b => b!.GetValue<bool>()).ToArray()),
        };
        return ReadCommon(config, json);
    }
}

namespace Engine.Peft.LowRank;

/// <summary>
/// EVA, explained variance adaptation (Paischer et al. 2024, arXiv:2410.07170, section 3; PEFT's lora/eva.py,
/// <c>get_eva_state_dict</c> and <c>_load_eva_state_dict</c>): before training, the calibration data runs through the
/// model and each target's inputs x (positions with an ignored label dropped) are collected;
/// <list type="number">
/// <item>each target keeps the top round(rho r) right-singular vectors of its centred inputs (<see cref="InputPca"/>:
/// exact, the SVD of all inputs stacked; PEFT's incremental PCA approaches it batch by batch until the components move
/// less than tau);</item>
/// <item>the ranks are redistributed: of all targets' explained variance ratios, the largest Σ r win, and a target's
/// new rank is how many of its own won (0 removes the target, as PEFT);</item>
/// <item>A = the target's top components (divided by the square roots of their singular values with
/// <see cref="EvaConfig.Whiten"/>), B = 0, so the adapter starts at the base; alpha is multiplied by new rank / r
/// with <see cref="EvaConfig.AdjustScalingFactors"/>.</item>
/// </list>
/// The returned configuration holds what PEFT writes: <c>rank_pattern</c> and <c>alpha_pattern</c> by full module name
/// where they differ from r and lora_alpha, and <c>target_modules</c> the full names of the targets that kept a rank.
/// </summary>
public static class EvaInit
{
    /// <summary>What EVA hands one target's layer: its A [rank, in] (Float64).</summary>
    public sealed record Share(Tensor A);

    /// <summary>One target's statistics: its PCA, the number of components it may receive and the hash of its first input.</summary>
    sealed class Target(InputPca pca, int rank, int maxComponents)
    {
        public InputPca Pca { get; } = pca;
        public int Rank { get; } = rank;
        public int MaxComponents { get; set; } = maxComponents;
        public ulong? FirstInputHash { get; set; }
    }

    /// <summary>Runs <paramref name="context"/>'s data through the model and initialises <paramref name="config"/>'s targets (see the class summary).</summary>
    /// <exception cref="NotSupportedException">A target is not a linear layer.</exception>
    /// <exception cref="ArgumentException">A target has fewer input features or saw fewer input rows than its components.</exception>
    public static CalibrationResult Calibrate(LoraConfig config, CalibrationContext context)
    {
        var eva = config.EvaConfig ?? new EvaConfig();
        double rho = eva.Rho;
        // PEFT's ceiling for unusually large rho: no layer can use more ranks than the largest dimension of the model.
        if (rho > 1000)
        {
            int maxDim = context.Model.Parameters().Max(p => p.Shape.DefaultIfEmpty(0).Max());
            rho = Math.Min(rho, maxDim / config.R);
        }

        var targets = new List<Target>();
        int budget = 0;
        foreach (var (path, module) in context.Targets)
        {
            var linear = (module is LoraLayer lora ? lora.BaseLayer : module) as Linear
                ?? throw new NotSupportedException($"EVA: target '{path.External}' is a {module.GetType().Name}; EVA initialises linear layers only (PEFT refuses embeddings, convolutions and attention modules too)");
            int r = config.RankFor(path);
            // Python's round: halves to even.
            int max = (int)Math.Round(r * rho, MidpointRounding.ToEven);
            if (max > linear.InFeatures)
                throw new ArgumentException($"EVA: '{path.External}' would keep round(rho r) = {max} components of its {linear.InFeatures} input features; lower eva_config.rho or r");
            targets.Add(new Target(new InputPca(linear.InFeatures), r, max));
            budget += r;
        }

        Record(context, eva, targets);

        // Targets with the same inputs (PEFT compares their first batch) keep the same number of components.
        var representative = new int[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            representative[i] = i;
            for (int j = 0; j < i; j++)
                if (representative[j] == j && targets[j].FirstInputHash is { } h && h == targets[i].FirstInputHash && targets[j].Pca.Features == targets[i].Pca.Features)
                {
                    representative[i] = j;
                    break;
                }
        }
        for (int i = 0; i < targets.Count; i++)
        {
            int group = representative[i];
            int max = Enumerable.Range(0, targets.Count).Where(k => representative[k] == group).Max(k => targets[k].MaxComponents);
            targets[i].MaxComponents = max;
        }

        var fits = new List<(Tensor Components, double[] Singular, double[] Ratio)>();
        for (int i = 0; i < targets.Count; i++)
        {
            var t = targets[i];
            if (t.Pca.Count < t.MaxComponents)
                throw new ArgumentException($"EVA: '{context.Targets[i].Path.External}' saw {t.Pca.Count} input rows (after the label mask), fewer than its {t.MaxComponents} components; pass more calibration data");
            fits.Add(t.Pca.Fit(t.MaxComponents));
        }

        var ranks = DistributeRanks(fits.Select((f, i) => (IReadOnlyList<double>)f.Ratio.Take(targets[i].MaxComponents).ToArray()).ToList(), budget, representative);

        var rankPattern = new Dictionary<string, int>();
        var alphaPattern = new Dictionary<string, double>();
        var kept = new List<string>();
        var perTarget = new Dictionary<string, object>();
        for (int i = 0; i < targets.Count; i++)
        {
            var path = context.Targets[i].Path;
            int rank = ranks[i];
            if (rank == 0) continue;
            double alpha = config.AlphaFor(path);
            if (rank != targets[i].Rank && eva.AdjustScalingFactors) alpha *= (double)rank / targets[i].Rank;
            var (components, singular, _) = fits[i];
            var a = components.Narrow(0, 0, rank);
            if (eva.Whiten) a = a / Tensor.FromArray(singular[..rank].Select(Math.Sqrt).ToArray()).Unsqueeze(1);
            perTarget[path.Engine] = new Share(a.Contiguous());
            kept.Add(path.External);
            if (rank != config.R) rankPattern[path.External] = rank;
            if (alpha != config.LoraAlpha) alphaPattern[path.External] = alpha;
        }
        var result = config with
        {
            TargetModules = ModuleSelector.Create(kept.ToArray()),
            RankPattern = rankPattern,
            AlphaPattern = alphaPattern,
            EvaConfig = eva,
        };
        return new CalibrationResult(result, perTarget);
    }

    /// <summary>
    /// EVA's rank redistribution (PEFT's <c>_get_rank_distribution</c>): of every target's explained variance ratios
    /// (<paramref name="ratios"/>[i], descending, as many as target i may receive), the <paramref name="budget"/>
    /// largest win; target i's rank is the number of its own that won. Ties go to the earlier target, then the earlier
    /// component (PyTorch's unstable argsort leaves them open). <paramref name="representative"/>[i] is the first target
    /// with the same inputs as target i (i itself when none); a representative ends with the largest rank of its group.
    /// </summary>
    public static int[] DistributeRanks(IReadOnlyList<IReadOnlyList<double>> ratios, int budget, IReadOnlyList<int>? representative = null)
    {
        var order = ratios.SelectMany((list, i) => list.Select((value, j) => (Value: value, Target: i, Component: j)))
            .OrderByDescending(e => e.Value).ThenBy(e => e.Target).ThenBy(e => e.Component);
        var counts = new int[ratios.Count];
        foreach (var e in order.Take(budget)) counts[e.Target]++;
        if (representative is not null)
            for (int i = 0; i < counts.Length; i++)
            {
                int h = representative[i];
                if (h != i && counts[h] < counts[i]) (counts[h], counts[i]) = (counts[i], counts[h]);
            }
        return counts;
    }

    // Feeds each target's inputs to its PCA, batch by batch; positions whose label is the mask value are dropped. The
    // data runs through the base function, as PEFT's disable_adapter context; when an earlier adapter is merged (which
    // disabling would unmerge for good) or the caller already disabled the adapters, the model runs as it is.
    static void Record(CalibrationContext context, EvaConfig eva, List<Target> targets)
    {
        int batch = -1;
        bool[]? keep = null;
        var data = context.Data;
        var tracked = new CalibrationData(data.Batches, i =>
        {
            batch = i;
            keep = null;
            if (eva.UseLabelMask && data.Labels is { } labels)
                keep = labels(i).ToDoubleArray().Select(v => v != eva.LabelMaskValue).ToArray();
            return data.Loss(i);
        }) { Labels = data.Labels };
        bool asItIs = context.Model.AdapterLayers().Any(l => l.Layer.Merged || l.Layer.Disabled);
        using var disabled = asItIs ? null : context.Model.DisableAdapters();
        LayerInputRecorder.Record(context with { Data = tracked }, (index, input) =>
        {
            var target = targets[index];
            var rows = input.Reshape(-1, input.Size(-1));
            if (keep is { } k)
            {
                if (k.Length != rows.Size(0))
                    throw new ArgumentException($"EVA: batch {batch}'s labels have {k.Length} positions, but '{context.Targets[index].Path.External}' received {rows.Size(0)} input rows");
                var chosen = Enumerable.Range(0, k.Length).Where(p => k[p]).Select(p => (long)p).ToArray();
                rows = chosen.Length == 0 ? rows.Narrow(0, 0, 0) : rows.IndexSelect(0, Tensor.FromArray(chosen).To(rows.Device));
            }
            if (batch == 0 && target.FirstInputHash is null) target.FirstInputHash = Hash(rows);
            target.Pca.Add(rows);
        });
    }

    // FNV-1a over the shape and the bits of the values (PEFT hashes the values' tuple).
    static ulong Hash(Tensor rows)
    {
        ulong h = 14695981039346656037;
        foreach (long v in rows.Shape.Select(d => (long)d).Concat(rows.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits)))
            for (int b = 0; b < 64; b += 8) h = (h ^ (ulong)((v >> b) & 0xff)) * 1099511628211;
        return h;
    }
}

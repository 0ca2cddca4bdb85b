namespace Engine.Nn.Merging;

/// <summary>
/// PCB-merging, parameter competition balancing (Du et al., NeurIPS 2024; spec adapters-other.md 18; reference
/// duguodong7/pcb-merging <c>pcb-merging.py::PCB_merge</c> for the LLM form, <c>vision_source_code/pcb_ES.py</c> for the
/// λ search). The task vectors τ_i = θ_i − θ_pre of all floating tensors are flattened into one row each (D entries):
/// <list type="number">
/// <item>clip |τ_i| to its own ranks ⌊Dε⌋ and ⌊D(1−ε) − 1⌋ (ε = 1e-4): τ̃_i = sign(τ_i)·clipped;</item>
/// <item>intra-balancing exp(n·N(|τ̃_i|)²), N the row's min–max normalisation, n the number of models (pitfall 9: it grows with n);</item>
/// <item>inter-balancing tanh(τ_i ⊙ Σ_j τ_j) of the unclipped vectors (the LLM form; the vision form differs);</item>
/// <item>β_i = intra ⊙ inter; keep the top fraction r of each row: scale_i = N(max(β_i, sorted(β_i)[⌊D(1−r)⌋]));</item>
/// <item>θ = θ_pre + Σ_i λ_i τ̃_i ⊙ scale_i / max(Σ_i scale_i, 1e-12).</item>
/// </list>
/// Reads <see cref="MergeOptions.Density"/> as r (default 0.1, the function's), <see cref="MergeOptions.Weights"/> as λ_i
/// (default 1 each) and <see cref="MergeOptions.Validate"/> for the search. Integer tensors are copied from the base.
/// <para>
/// Search: the paper tunes λ_i ∈ [0.8, 1.3] with nevergrad's NGOpt (100 evaluations). We have no nevergrad, so when
/// Validate is given this class runs a small deterministic grid instead: r over <see cref="RatioGrid"/> (only when
/// Density is null; a given Density fixes r) times one common λ over <see cref="LambdaGrid"/> that multiplies every
/// λ_i, and keeps the point of least validation loss (first in grid order on ties). <see cref="LastSearch"/> holds it.
/// </para>
/// <para>
/// Where all of a row's values are equal, min–max normalisation divides 0 by 0 in the reference (NaN); here it gives
/// 0 (no entry stands out), so an unchanged model contributes nothing instead of poisoning the merge.
/// </para>
/// </summary>
public sealed class PcbMerge : IStateDictMerge
{
    /// <summary>r when <see cref="MergeOptions.Density"/> is null (the reference function's default; its scripts use 0.05).</summary>
    public const double DefaultRatio = 0.1;

    /// <summary>ε of the LLM form's magnitude clipping (the vision form uses 0.01).</summary>
    public const double DefaultClipEpsilon = 1e-4;

    /// <summary>The r values the search tries by default.</summary>
    public static readonly IReadOnlyList<double> DefaultRatioGrid = [0.05, 0.1, 0.2, 0.3, 0.5];

    /// <summary>The common λ values the search tries by default: the paper's search range [0.8, 1.3] in steps of 0.1.</summary>
    public static readonly IReadOnlyList<double> DefaultLambdaGrid = [0.8, 0.9, 1.0, 1.1, 1.2, 1.3];

    /// <summary>Builds the merge; grids default to <see cref="DefaultRatioGrid"/> and <see cref="DefaultLambdaGrid"/>.</summary>
    /// <exception cref="ArgumentException">A density or grid ratio outside (0, 1], a non-finite weight or λ, ε outside [0, 0.5), or an empty grid.</exception>
    public PcbMerge(MergeOptions? options = null, double clipEpsilon = DefaultClipEpsilon, IReadOnlyList<double>? ratioGrid = null, IReadOnlyList<double>? lambdaGrid = null)
    {
        Options = options ?? new MergeOptions();
        ClipEpsilon = clipEpsilon;
        RatioGrid = ratioGrid ?? DefaultRatioGrid;
        LambdaGrid = lambdaGrid ?? DefaultLambdaGrid;
        if (Options.Density is double d) CheckRatio(d, "Density");
        if (Options.Weights is { } w && w.Any(x => !double.IsFinite(x)))
            throw new ArgumentException($"pcb: Weights must be finite, got [{string.Join(", ", w)}]");
        if (!(clipEpsilon >= 0 && clipEpsilon < 0.5)) throw new ArgumentException($"pcb: clipEpsilon must be in [0, 0.5), got {clipEpsilon}");
        if (RatioGrid.Count == 0 || LambdaGrid.Count == 0) throw new ArgumentException("pcb: the search grids must not be empty");
        foreach (var r in RatioGrid) CheckRatio(r, "ratio grid value");
        if (LambdaGrid.Any(x => !double.IsFinite(x))) throw new ArgumentException($"pcb: λ grid values must be finite, got [{string.Join(", ", LambdaGrid)}]");
    }

    /// <inheritdoc/>
    public string Name => "pcb";

    /// <summary>The options this merge reads (Density, Weights, Validate).</summary>
    public MergeOptions Options { get; }

    /// <summary>ε of the magnitude clipping.</summary>
    public double ClipEpsilon { get; }

    /// <summary>The r values the search tries when Density is null.</summary>
    public IReadOnlyList<double> RatioGrid { get; }

    /// <summary>The common λ values the search tries.</summary>
    public IReadOnlyList<double> LambdaGrid { get; }

    /// <summary>The last <see cref="Merge"/>'s search (chosen r and λ, every trial); null when it ran without Validate.</summary>
    public PcbSearchResult? LastSearch { get; private set; }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        MergeInputs.Check(Name, baseModel, models);
        if (Options.Weights is { } w && w.Count != models.Count)
            throw new ArgumentException($"pcb: {w.Count} weights for {models.Count} models; give one λ per model");
        LastSearch = null;
        var lambdas = Options.Weights?.ToArray() ?? Enumerable.Repeat(1.0, models.Count).ToArray();
        var names = baseModel.Keys.Where(k => MergeValues.IsMerged(baseModel[k])).ToList();
        var tasks = Flatten(names, baseModel, models);

        if (Options.Validate is not { } validate)
        {
            var (clipped, scale) = Balance(tasks, Options.Density ?? DefaultRatio, ClipEpsilon);
            return Unflatten(names, baseModel, Combine(clipped, scale, lambdas, 1.0));
        }

        var trials = new List<PcbTrial>();
        PcbTrial? best = null;
        Dictionary<string, Tensor>? bestModel = null;
        foreach (var r in Options.Density is double fixedRatio ? [fixedRatio] : RatioGrid)
        {
            var (clipped, scale) = Balance(tasks, r, ClipEpsilon);
            foreach (var lambda in LambdaGrid)
            {
                var merged = Unflatten(names, baseModel, Combine(clipped, scale, lambdas, lambda));
                var trial = new PcbTrial(r, lambda, validate(merged));
                trials.Add(trial);
                if (!double.IsNaN(trial.Loss) && (best is null || trial.Loss < best.Loss)) (best, bestModel) = (trial, merged);
            }
        }
        if (best is null || bestModel is null)
            throw new InvalidOperationException($"pcb: every one of the {trials.Count} search candidates had a NaN validation loss");
        LastSearch = new PcbSearchResult(best.Ratio, best.Lambda, best.Loss, trials);
        return bestModel;
    }

    /// <summary>
    /// Steps 1–4 on task vectors given as rows (one per model, equal lengths): the clipped vectors τ̃_i and the
    /// balancing scales scale_i ∈ [0, 1] that keep the top fraction <paramref name="ratio"/> of each row.
    /// </summary>
    internal static (double[][] Clipped, double[][] Scale) Balance(double[][] tasks, double ratio, double clipEpsilon = DefaultClipEpsilon)
    {
        CheckRatio(ratio, "ratio");
        int n = tasks.Length, d = tasks[0].Length;
        var clipped = new double[n][];
        var sum = new double[d];
        foreach (var t in tasks)
            for (int k = 0; k < d; k++) sum[k] += t[k];
        var scale = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var t = tasks[i];
            // Step 1: clip |τ_i| to the values at ranks ⌊Dε⌋ and ⌊D(1−ε) − 1⌋ of its own sorted magnitudes.
            var abs = t.Select(Math.Abs).ToArray();
            var sorted = (double[])abs.Clone();
            Array.Sort(sorted);
            double lo = sorted[RankIndex(d * clipEpsilon, d)], hi = sorted[RankIndex(d * (1 - clipEpsilon) - 1, d)];
            var absClipped = abs.Select(x => Math.Clamp(x, lo, Math.Max(lo, hi))).ToArray();
            clipped[i] = new double[d];
            for (int k = 0; k < d; k++) clipped[i][k] = Math.Sign(t[k]) * absClipped[k];
            // Steps 2–3: β = exp(n·N(|τ̃|)²) ⊙ tanh(τ ⊙ Σ_j τ_j).
            var normalised = MinMaxNormalise(absClipped);
            var beta = new double[d];
            for (int k = 0; k < d; k++) beta[k] = Math.Exp(n * normalised[k] * normalised[k]) * Math.Tanh(t[k] * sum[k]);
            // Step 4: raise everything below the value at rank ⌊D(1−r)⌋ to it, so normalisation sends it to 0.
            var sortedBeta = (double[])beta.Clone();
            Array.Sort(sortedBeta);
            var threshold = sortedBeta[RankIndex(d * (1 - ratio), d)];
            scale[i] = MinMaxNormalise(beta.Select(x => Math.Max(x, threshold)).ToArray());
        }
        return (clipped, scale);
    }

    /// <summary>Step 5: Σ_i λ·λ_i τ̃_i ⊙ scale_i / max(Σ_i scale_i, 1e-12), the merged task vector.</summary>
    static double[] Combine(double[][] clipped, double[][] scale, double[] lambdas, double commonLambda)
    {
        int d = clipped[0].Length;
        var merged = new double[d];
        for (int k = 0; k < d; k++)
        {
            double num = 0, den = 0;
            for (int i = 0; i < clipped.Length; i++)
            {
                num += commonLambda * lambdas[i] * clipped[i][k] * scale[i][k];
                den += scale[i][k];
            }
            merged[k] = num / Math.Max(den, 1e-12);
        }
        return merged;
    }

    // Python's int() of a float truncates toward zero, as C#'s cast does; the index stays inside the row.
    static int RankIndex(double position, int d) => Math.Clamp((int)position, 0, d - 1);

    static double[] MinMaxNormalise(double[] x)
    {
        double min = x.Min(), max = x.Max(), range = max - min;
        return range > 0 ? x.Select(v => (v - min) / range).ToArray() : new double[x.Length];
    }

    static void CheckRatio(double r, string what)
    {
        if (!(r > 0 && r <= 1)) throw new ArgumentException($"pcb: {what} r is the fraction of entries kept and must be in (0, 1], got {r}");
    }

    static double[][] Flatten(List<string> names, IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        long total = names.Sum(n => baseModel[n].Numel);
        if (total == 0) throw new ArgumentException("pcb: the base has no floating-point entries to merge");
        if (total > Array.MaxLength) throw new ArgumentException($"pcb: {total} entries do not fit one flattened task vector (at most {Array.MaxLength})");
        var rows = new double[models.Count][];
        for (int i = 0; i < models.Count; i++) rows[i] = new double[total];
        long offset = 0;
        foreach (var name in names)
        {
            var deltas = MergeValues.Deltas("pcb", name, baseModel, models);
            for (int i = 0; i < models.Count; i++) Array.Copy(deltas[i], 0, rows[i], offset, deltas[i].Length);
            offset += deltas[0].Length;
        }
        return rows;
    }

    static Dictionary<string, Tensor> Unflatten(List<string> names, IReadOnlyDictionary<string, Tensor> baseModel, double[] mergedTask)
    {
        var result = new Dictionary<string, Tensor>();
        long offset = 0;
        foreach (var (name, b) in baseModel)
        {
            if (!MergeValues.IsMerged(b)) { result[name] = MergeValues.Copy(b); continue; }
            var values = MergeValues.Of(b);
            for (int k = 0; k < values.Length; k++) values[k] += mergedTask[offset + k];
            offset += values.Length;
            result[name] = MergeValues.Like(values, b);
        }
        return result;
    }
}

using System.CommandLine;
using System.Globalization;
using Engine.Nn;
using Engine.Peft.Sparse;

namespace Engine.Cli;

/// <summary>
/// <c>engine train --sltrain</c>: SLTrain pre-training of the names GPT (arXiv 2406.02214; andyjm3/SLTrain
/// <c>splora_model.py</c>): every attention and MLP Linear of the fresh model is replaced by W = B·(s·A) + S on a fixed
/// random support (<see cref="SltrainModel.Reparameterise"/>); the dense weights are dropped, embeddings, norms and
/// the rest train as usual. Also the memory report of every <c>engine train</c> run, so the full-rank and SLTrain runs
/// compare: parameters, the bytes of parameters + gradients + AdamW moments (+ SLTrain's int64 supports), and the
/// largest live managed heap sampled after the forward pass.
/// </summary>
static class SltrainTraining
{
    /// <summary>The substrings of the Linears SLTrain replaces (the reference's default targets).</summary>
    public static readonly string[] Targets = ["attn", "mlp"];

    public static readonly Option<bool> Enabled = new("--sltrain")
    {
        Description = "pre-train with SLTrain: every attention and MLP weight is B·(s·A) + S, S sparse on a fixed random support (arXiv 2406.02214)",
    };

    public static readonly Option<int?> Rank = ValidatedOption.OptionalInteger("--sltrain-rank", "rank r of the low-rank part (with --sltrain; default width / 4)", min: 1);

    public static readonly Option<double?> Density = new("--sltrain-density")
    {
        Description = "density δ of the sparse support, in (0, 1) (with --sltrain; default 0.03, the paper's scripts)",
    };

    public static readonly Option<double?> Alpha = new("--sltrain-alpha")
    {
        Description = "α of the scale s = α / r (with --sltrain; default r / 4: s = 0.25, as the paper's 60M script, r 128 α 32)",
    };

    static SltrainTraining()
    {
        Density.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double?>() is { } v && !(v > 0 && v < 1)) r.AddError($"--sltrain-density must be a number in (0, 1), got {v.ToString("G", CultureInfo.InvariantCulture)}");
        });
        Alpha.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double?>() is { } v && !(v > 0 && double.IsFinite(v))) r.AddError($"--sltrain-alpha must be a finite number above 0, got {v.ToString("G", CultureInfo.InvariantCulture)}");
        });
    }

    /// <summary>The options of <c>engine train</c>.</summary>
    public static IEnumerable<Option> Options => [Enabled, Rank, Density, Alpha];

    /// <summary>The configuration the options ask for, or null without <c>--sltrain</c>.</summary>
    /// <exception cref="ArgumentException">An <c>--sltrain-*</c> option without <c>--sltrain</c>, or a rank above the width.</exception>
    public static SltrainConfig? ConfigOf(ParseResult r, int width)
    {
        int? rank = r.GetValue(Rank);
        double? density = r.GetValue(Density), alpha = r.GetValue(Alpha);
        if (!r.GetValue(Enabled))
        {
            if (rank is not null || density is not null || alpha is not null)
                throw new ArgumentException("--sltrain-rank, --sltrain-density and --sltrain-alpha apply with --sltrain only");
            return null;
        }
        int rr = rank ?? Math.Max(1, width / 4);
        if (rr > width) throw new ArgumentException($"--sltrain-rank {rr} is above the model width {width}: the low-rank part alone would exceed a dense weight");
        return new SltrainConfig { R = rr, LoraAlpha = alpha ?? rr / 4.0, SpRatio = density ?? 0.03 };
    }

    /// <summary>Replaces the model's Linears; prints what it did.</summary>
    public static void Apply(Gpt model, SltrainConfig config, Generator generator)
    {
        long before = model.ParameterCount();
        var paths = SltrainModel.Reparameterise(model, Targets, config, generator);
        Console.WriteLine(FormattableString.Invariant(
            $"SLTrain: {paths.Count} Linears replaced by W = B·(s·A) + S (r {config.R}, α {config.LoraAlpha:G4}, δ {config.SpRatio:G4}): {model.ParameterCount():N0} parameters instead of {before:N0}"));
    }

    /// <summary>
    /// Float32 parameters with their gradient and two AdamW moments (16 bytes each) plus the model's buffers (SLTrain's
    /// int64 supports Ω: 8 bytes per entry).
    /// </summary>
    public static long TrainingStateBytes(Module model) =>
        16 * model.ParameterCount() + model.NamedBuffers().Sum(b => b.Buffer.Numel * b.Buffer.DType.SizeOf());

    /// <summary>The largest live managed heap seen: a full collection after the forward pass of the sampled steps.</summary>
    public sealed class PeakSampler(int every)
    {
        /// <summary>Bytes, the largest sample so far.</summary>
        public long Peak { get; private set; }

        /// <summary>Samples at step 0 and every <c>every</c> steps (activations of the forward pass still alive).</summary>
        public void AfterForward(int step)
        {
            if (step % every != 0) return;
            Peak = Math.Max(Peak, GC.GetTotalMemory(forceFullCollection: true));
        }
    }

    /// <summary>The report's lines.</summary>
    public static void Report(Module model, PeakSampler peak, int every)
    {
        static string MiB(double b) => FormattableString.Invariant($"{b / (1 << 20):F2} MiB");
        long buffers = model.NamedBuffers().Sum(b => b.Buffer.Numel);
        Console.WriteLine(FormattableString.Invariant($"memory: {model.ParameterCount():N0} parameters{(buffers > 0 ? $" and {buffers:N0} buffer entries" : "")}; ")
            + $"parameters + gradients + AdamW moments: {MiB(TrainingStateBytes(model))}; "
            + $"peak live managed heap: {MiB(peak.Peak)} (full collection after the forward pass, every {every} steps; it includes arrays the CPU pool keeps, ENGINE_CPU_POOL_MB=0 turns that off)");
    }
}

using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Nn.Compression;

namespace Engine.Cli;

/// <summary>
/// FWSVD on a names model of <c>engine train</c> (spec structure-and-optimizers.md §4.3): a Fisher pass over training
/// windows, then every block Linear (qkv, o, fc, proj) becomes a rank-r <see cref="LowRankLinear"/> from the
/// Fisher-weighted SVD; the same model from plain truncated SVD is measured beside it. The FWSVD model is saved as a
/// checkpoint with the rank map, so <c>engine sample</c> rebuilds it.
/// </summary>
static class NamesFwsvd
{
    /// <summary>One compressed variant: parameters (all, and in the block Linears), relative weight error and validation loss.</summary>
    public sealed record Row(string Model, long Parameters, long LinearParameters, double WeightError, double Loss);

    /// <summary>Compresses the model of <paramref name="checkpoint"/> at <paramref name="rank"/>, saves the FWSVD model and returns the rows: original, SVD, FWSVD by output rows and by input columns.</summary>
    /// <param name="byColumns">Weight the input features (columns of W [out, in]) instead of the output rows the spec names.</param>
    public static List<Row> Compress(string checkpoint, NamesCorpus corpus, int rank, bool byColumns, int calibrationBatches, ulong seed, string outPath, TextWriter log)
    {
        var (model, tokenizer, info) = NamesModelFile.Load(checkpoint);
        model.Eval();
        int context = model.Config.ContextLength;
        var linears = GptLinears.Of(model);
        int smallest = linears.Min(e => Math.Min(e.Linear.InFeatures, e.Linear.OutFeatures));
        if (rank > smallest)
            throw new ArgumentException($"--rank {rank} is above the smallest block Linear dimension of '{checkpoint}' ({smallest}); give 1..{smallest}");
        var rows = new List<Row> { Measure("original", model, corpus, context, new Dictionary<string, Tensor>()) };

        // Fisher: mean squared gradient of the training loss over calibration batches.
        var weights = linears.Select(e => (LowRankGpt.Key(e), e.Linear.Weight)).ToList();
        var generator = new Generator(seed + 2);
        var batches = Enumerable.Range(0, calibrationBatches).Select(_ => corpus.Batch(NamesBitStack.CalibrationBatch, context, generator)).ToList();
        var fisher = FisherInformation.Accumulate(model, weights, calibrationBatches, b => Losses.CrossEntropy(model.Forward(batches[b].Inputs), batches[b].Targets));
        var originals = weights.ToDictionary(w => w.Item1, w => w.Weight.Detach().Clone());

        var (svd, _, _) = NamesModelFile.Load(checkpoint);
        svd.Eval();
        LowRankGpt.Factorise(svd, e => FisherWeightedSvd.Factorise(e.Linear.Weight, null, rank));
        rows.Add(Measure($"SVD r={rank}", svd, corpus, context, originals));

        // Both readings of FWSVD's "rows" (see FisherWeightedSvd.FactoriseColumns); the one --fisher-axis names is saved.
        var (other, _, _) = NamesModelFile.Load(checkpoint);
        other.Eval();
        var saved = byColumns ? "input" : "output";
        LowRankGpt.Factorise(other, e => Factorise(e, fisher[LowRankGpt.Key(e)], rank, !byColumns));
        var ranks = LowRankGpt.Factorise(model, e => Factorise(e, fisher[LowRankGpt.Key(e)], rank, byColumns));
        var measured = new[]
        {
            Measure($"FWSVD r={rank}, output rows{(byColumns ? "" : " (saved)")}", byColumns ? other : model, corpus, context, originals),
            Measure($"FWSVD r={rank}, input columns{(byColumns ? " (saved)" : "")}", byColumns ? model : other, corpus, context, originals),
        };
        rows.AddRange(measured);

        var values = NamesModelFile.Values(model.Config, tokenizer);
        values[LowRankGpt.MetadataKey] = LowRankGpt.Serialize(ranks);
        OutputPath.PrepareFile(outPath);
        TrainingCheckpoint.Save(outPath, model, null, info.Step, values: values);
        log.WriteLine($"wrote '{outPath}': {ranks.Count} block Linears at rank {rank}, Fisher weighting over {saved} features");
        return rows;
    }

    /// <summary>The table of <see cref="Compress"/>'s rows.</summary>
    public static void Table(IReadOnlyList<Row> rows, TextWriter log)
    {
        log.WriteLine();
        log.WriteLine("| model | parameters | block-Linear parameters | ‖W − AB‖/‖W‖ | validation loss |");
        log.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var r in rows)
            log.WriteLine(FormattableString.Invariant($"| {r.Model} | {r.Parameters:N0} | {r.LinearParameters:N0} | {(r.Model == "original" ? "0" : r.WeightError.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))} | {r.Loss:F4} |"));
    }

    static (Tensor A, Tensor B) Factorise(GptLinear e, Tensor fisher, int rank, bool byColumns) => byColumns
        ? FisherWeightedSvd.FactoriseColumns(e.Linear.Weight, FisherWeightedSvd.ColumnImportance(fisher), rank)
        : FisherWeightedSvd.Factorise(e.Linear.Weight, FisherWeightedSvd.RowImportance(fisher), rank);

    static Row Measure(string name, Gpt model, NamesCorpus corpus, int context, IReadOnlyDictionary<string, Tensor> originals)
    {
        using var noGrad = Autograd.Autograd.NoGrad();
        long linearParameters = 0;
        double error = 0, norm = 0;
        foreach (var e in GptLinears.Of(model))
        {
            linearParameters += e.Module.ParameterCount();
            if (!originals.TryGetValue(LowRankGpt.Key(e), out var w)) continue;
            var approx = e.Module is LowRankLinear low ? low.DenseWeight() : ((Linear)e.Module).Weight;
            error += (w - approx).Square().Sum().Item();
            norm += w.Square().Sum().Item();
        }
        double loss = NamesAdaptation.ValidationLoss(model, model.Forward, corpus, context);
        return new Row(name, model.ParameterCount(), linearParameters, norm > 0 ? Math.Sqrt(error / norm) : 0, loss);
    }
}

using System.CommandLine;

namespace Engine.Cli;

/// <summary>
/// <c>engine compress</c>: compression of a trained names model (issue 20). <c>--bitstack</c> writes a BitStack file
/// (spec adapters-other.md §17) that <c>engine sample --memory-budget SIZE</c> loads at any size, and with
/// <c>--report</c> prints validation loss against memory at 10%, ..., 100% of the blocks; <c>--fwsvd --rank r</c>
/// writes a checkpoint whose block Linears are rank-r Fisher-weighted SVD factorisations (structure-and-optimizers.md
/// §4.3) and prints the validation loss of the original, plain truncated SVD and FWSVD at that rank.
/// </summary>
static class CompressCommand
{
    /// <summary>BitStack's k for the names model: see the --rank description.</summary>
    public const int DefaultBitStackRank = 2;

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint file written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var bitstack = new Option<bool>("--bitstack") { Description = "BitStack: 1-bit signs × rank-k magnitudes per block, loadable at any memory budget" };
        var fwsvd = new Option<bool>("--fwsvd") { Description = "Fisher-weighted SVD: every block Linear as a rank --rank product" };
        var output = ValidatedOption.OptionalOutputFile("--out", "file to write (a BitStack file, or a names checkpoint with factorised Linears)");
        var blocks = ValidatedOption.Integer("--blocks", "BitStack blocks per weight (n)", 16, min: 1, max: 64);
        var rank = ValidatedOption.OptionalInteger("--rank", $"BitStack: k of each block (default {DefaultBitStackRank}: at the names model's width 64 the paper's k = 16 would make the fp16 factors of one block 4 bits per weight, 16 times the reference's share); FWSVD: the rank r (required)", min: 1);
        var data = new Option<string>("--data") { Description = "names the model was trained on (validation split and calibration data): female, male, all, or a file", DefaultValueFactory = _ => "female" };
        var seed = new Option<ulong>("--seed") { Description = "the seed of `engine train` (it fixes the validation split); calibration batches are drawn from it too", DefaultValueFactory = _ => 1 };
        var calibration = ValidatedOption.Integer("--calibration-batches", $"training batches of {NamesBitStack.CalibrationBatch} sequences for BitStack's block order and FWSVD's Fisher pass", 8, min: 1, max: 1000);
        var axis = new Option<string>("--fisher-axis") { Description = "FWSVD: which features the row importance weights: rows (the output rows of W [out, in], as the spec reads it) or columns (the input features, the paper's y = xW rows); both are measured, this one is saved", DefaultValueFactory = _ => "rows" };
        axis.AcceptOnlyFromAmong("rows", "columns");
        var scale = new Option<bool>("--scale-activations") { Description = "BitStack: activation-aware channel scaling before decomposition (qkv, o, fc; folded into the previous op; the MLP's proj is left unscaled)" };
        var report = new Option<bool>("--report") { Description = "BitStack: print validation loss against memory at 10%, 20%, ..., 100% of the blocks" };
        var command = new Command("compress", "compress a names model of `engine train`: BitStack (any-size loading) or Fisher-weighted SVD");
        foreach (var o in new Option[] { checkpoint, bitstack, fwsvd, output, blocks, rank, data, seed, calibration, axis, scale, report }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(bitstack), r.GetValue(fwsvd), r.GetValue(output), r.GetValue(blocks), r.GetValue(rank),
            r.GetValue(data)!, r.GetValue(seed), r.GetValue(calibration), r.GetValue(axis) == "columns", r.GetValue(scale), r.GetValue(report), Console.Out));
        return command;
    }

    static int Run(string checkpoint, bool bitstack, bool fwsvd, string? output, int blocks, int? rank, string data, ulong seed, int calibration, bool byColumns, bool scale, bool report, TextWriter log)
    {
        if (bitstack == fwsvd) throw new ArgumentException("give exactly one of --bitstack and --fwsvd");
        if (output is null) throw new ArgumentException("--out is required: the file to write");
        if (fwsvd && rank is null) throw new ArgumentException("--fwsvd needs --rank r");
        if (fwsvd && report) throw new ArgumentException("--report is for --bitstack (--fwsvd always prints its table)");
        if (fwsvd && scale) throw new ArgumentException("--scale-activations is for --bitstack");
        var (model, tokenizer, _) = NamesModelFile.Load(checkpoint);
        if (Engine.Nn.GptLinears.Of(model).Any(e => e.Module is not Engine.Nn.Linear))
            throw new ArgumentException($"'{checkpoint}' is already compressed (its block Linears are factorised); compress the checkpoint of `engine train`");
        int context = model.Config.ContextLength;
        var corpus = NamesData.Corpus(EmbeddedData.Load(data), tokenizer, seed, data, context, $"the model's context of {context} tokens");
        if (fwsvd)
        {
            NamesFwsvd.Table(NamesFwsvd.Compress(checkpoint, corpus, rank!.Value, byColumns, calibration, seed, output, log), log);
            return 0;
        }
        double originalLoss = report ? NamesAdaptation.ValidationLoss(model, model.Forward, corpus, context) : double.NaN;
        long originalBytes = model.StateDict().Where(kv => !model.TensorAliases().ContainsKey(kv.Key)).Sum(kv => kv.Value.Numel * 4);
        if (scale)
        {
            var generator = new Generator(seed + 3);
            var inputs = Enumerable.Range(0, calibration).Select(_ => corpus.Batch(NamesBitStack.CalibrationBatch, context, generator).Inputs).ToList();
            var scaled = Engine.Nn.Compression.ActivationAwareScaling.Apply(model, inputs);
            log.WriteLine($"activation-aware scaling of {scaled.Count} weights: {string.Join(", ", scaled)}");
        }
        OutputPath.PrepareFile(output);
        NamesBitStack.Compress(model, tokenizer, corpus, blocks, rank ?? DefaultBitStackRank, calibration, seed, output, log);
        if (report) NamesBitStack.Report(output, corpus, originalLoss, originalBytes, log);
        return 0;
    }
}

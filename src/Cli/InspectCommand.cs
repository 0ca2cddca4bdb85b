using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine inspect</c>: what a checkpoint holds, read from its header only (no tensor data is loaded): one row per
/// tensor (name, dtype, shape, elements), totals, and the metadata (for a training checkpoint: step and configuration).
/// With <c>--mnn</c> it also loads a names model and scores texts by the Matrix Nuclear-Norm of its last hidden states
/// (<see cref="MatrixNuclearNorm"/>; spec structure-and-optimizers.md §4.4).
/// </summary>
static class InspectCommand
{
    const string ModelPrefix = "model.";

    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a .safetensors file (plain, or a training checkpoint of `engine train`), a Hugging Face GPT-2 folder or a PEFT adapter folder" };
        var command = new Command("inspect", "list the tensors, parameter counts and metadata of a checkpoint file or model folder, reading headers only");
        var mnn = new Option<string?>("--mnn") { Description = "also score texts by the Matrix Nuclear-Norm per token of the model's last hidden states (names checkpoints): a file (UTF-8, one response per line) or an embedded set: female, male, all" };
        command.Arguments.Add(path);
        command.Options.Add(mnn);
        command.SetAction(r => Run(r.GetValue(path)!, r.GetValue(mnn)));
        return command;
    }

    static int Run(string path, string? mnnTexts)
    {
        if (mnnTexts is not null && !File.Exists(path))
            throw new ArgumentException($"--mnn scores texts with a names checkpoint file of `engine train`; '{path}' is not a file");
        int code = Inspect(path);
        if (mnnTexts is not null) PrintMatrixNuclearNorm(path, mnnTexts);
        return code;
    }

    static int Inspect(string path)
    {
        if (Directory.Exists(path)) return InspectFolder(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint file or model folder at '{path}'", path);
        using var file = Safetensors.Open(path);
        bool training = file.Metadata.ContainsKey("step");
        Console.WriteLine($"{path}: {(training ? "training checkpoint" : "safetensors file")}, {file.Names.Count} tensors");
        PrintTable(file);
        if (training)
        {
            // Model parameters and optimiser state live side by side under "model." and "optim." (TrainingCheckpoint).
            var parameters = file.Names.Where(n => n.StartsWith(ModelPrefix, StringComparison.Ordinal)).Select(file.Info).ToList();
            Console.WriteLine($"model parameters: {parameters.Sum(i => i.Numel):N0} in {parameters.Count} tensors ({parameters.Sum(i => i.ByteLength):N0} bytes)");
            Console.WriteLine($"step: {file.Metadata["step"]}");
            if (file.Metadata.TryGetValue(NamesModelFile.ConfigKey, out var json))
                Console.WriteLine($"config: {json}");
        }
        PrintMetadata(file.Metadata, skip: training ? ["step", NamesModelFile.ConfigKey] : []);
        return 0;
    }

    static int InspectFolder(string folder)
    {
        if (File.Exists(Path.Combine(folder, AdapterFiles.ConfigFileName))) return InspectAdapter(folder);
        var config = Gpt2Checkpoint.ReadConfig(folder);
        var weights = Path.Combine(folder, Gpt2Checkpoint.WeightsFileName);
        if (!File.Exists(weights)) throw new FileNotFoundException($"'{folder}' has no {Gpt2Checkpoint.WeightsFileName}", weights);
        using var file = Safetensors.Open(weights);
        Console.WriteLine($"{folder}: Hugging Face GPT-2 folder, {file.Names.Count} tensors");
        Console.WriteLine($"config: vocab {config.VocabSize}, context {config.ContextLength}, width {config.DModel}, {config.Layers} layers, {config.Heads} heads, " +
            $"MLP {config.MlpRatio * config.DModel}, {(config.GeluTanh ? "tanh GELU" : "exact GELU")}, {(config.TiedHead ? "tied" : "untied")} head");
        var tokenizer = TextCodec.ForFolder(folder, config.VocabSize);
        Console.WriteLine($"tokenizer: {(tokenizer is null ? $"none ({TextCodec.VocabFileName} + {TextCodec.MergesFileName} absent)" : tokenizer.Description)}");
        PrintTable(file);
        // Causal-mask buffers (h.N.attn.bias) and a tied lm_head are stored but are not parameters of the model.
        var parameters = file.Names.Where(n => IsGpt2Parameter(n, config.TiedHead)).Select(file.Info).ToList();
        Console.WriteLine($"model parameters: {parameters.Sum(i => i.Numel):N0} in {parameters.Count} tensors");
        PrintMetadata(file.Metadata, skip: []);
        return 0;
    }

    // A PEFT adapter folder (engine finetune --out, Hugging Face PEFT's save_pretrained): its configuration and tensors.
    static int InspectAdapter(string folder)
    {
        var config = AdapterFiles.ReadConfig(folder);
        var weights = Path.Combine(folder, AdapterFiles.WeightsFileName);
        if (!File.Exists(weights)) throw new FileNotFoundException($"'{folder}' has {AdapterFiles.ConfigFileName} but no {AdapterFiles.WeightsFileName}", weights);
        using var file = Safetensors.Open(weights);
        Console.WriteLine($"{folder}: PEFT adapter folder ({config.PeftType}), {file.Names.Count} tensors");
        Console.WriteLine($"config: {config.ToJson().ToJsonString()}");
        PrintTable(file);
        Console.WriteLine($"adapter parameters: {file.Names.Select(file.Info).Sum(i => i.Numel):N0}");
        PrintMetadata(file.Metadata, skip: []);
        return 0;
    }

    /// <summary>
    /// MNN/T of every line of <paramref name="source"/> and their mean over the finite ones. A line is read as the names
    /// model reads a name: the boundary token, then its characters (cut to the context length), so T = characters + 1;
    /// R is the final LayerNorm's output [T, d] (Hugging Face's <c>hidden_states[-1]</c>, the reference's <c>model(ids)[0]</c>).
    /// </summary>
    static void PrintMatrixNuclearNorm(string path, string source)
    {
        var (gpt, tokenizer, _) = NamesModelFile.Load(path);
        gpt.Eval();
        var lines = source is "female" or "male" or "all" ? EmbeddedData.Load(source) : StrictUtf8.ReadLines(source, "--mnn");
        if (lines.Count == 0) throw new ArgumentException($"--mnn '{source}' has no lines to score");
        int context = gpt.Config.ContextLength, cut = 0;
        var scores = new List<double>();
        using (Autograd.Autograd.NoGrad())
            foreach (var line in lines)
            {
                var ids = new List<long> { CharTokenizer.Boundary };
                ids.AddRange(tokenizer.Encode(line).Select(i => (long)i));
                if (ids.Count > context) { ids.RemoveRange(context, ids.Count - context); cut++; }
                var hidden = gpt.LastHiddenState(Tensor.FromArray(ids.ToArray(), [1, ids.Count]));
                scores.Add(MatrixNuclearNorm.PerToken(hidden.Reshape(ids.Count, hidden.Size(2))));
            }
        int degenerate = scores.Count(double.IsNaN);
        Console.WriteLine(FormattableString.Invariant($"matrix nuclear-norm per token (MNN/T, last hidden states, width {gpt.Config.DModel}) over {lines.Count} lines of '{source}': mean {MatrixNuclearNorm.DatasetAverage(scores):F4}")
            + (degenerate > 0 ? $", {degenerate} degenerate line(s) skipped (NaN: every token equal to the mean)" : "")
            + (cut > 0 ? $", {cut} line(s) cut to the context of {context} tokens" : ""));
    }

    static bool IsGpt2Parameter(string key, bool tiedHead)
    {
        try { return !(tiedHead && Gpt2Checkpoint.EngineName(key) == "head.weight"); }
        catch (ArgumentException) { return false; }
    }

    static void PrintTable(SafetensorsFile file)
    {
        var infos = file.Names.Select(file.Info).ToList();
        int nameWidth = Math.Max(4, infos.Select(i => i.Name.Length).DefaultIfEmpty(0).Max());
        var shapes = infos.Select(i => "[" + string.Join(", ", i.Shape) + "]").ToList();
        int shapeWidth = Math.Max(5, shapes.Select(s => s.Length).DefaultIfEmpty(0).Max());
        Console.WriteLine($"{"name".PadRight(nameWidth)}  {"dtype",-5}  {"shape".PadRight(shapeWidth)}  {"count",12}");
        for (int k = 0; k < infos.Count; k++)
            Console.WriteLine($"{infos[k].Name.PadRight(nameWidth)}  {infos[k].DType,-5}  {shapes[k].PadRight(shapeWidth)}  {infos[k].Numel,12:N0}");
        Console.WriteLine($"total: {infos.Sum(i => i.Numel):N0} elements, {infos.Sum(i => i.ByteLength):N0} bytes");
    }

    static void PrintMetadata(IReadOnlyDictionary<string, string> metadata, string[] skip)
    {
        var rest = metadata.Where(kv => !skip.Contains(kv.Key)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (rest.Count == 0) return;
        Console.WriteLine("metadata:");
        foreach (var (key, value) in rest)
        {
            // Long values (a character vocabulary, a JSON blob) are cut so the table stays readable.
            string shown = value.Length > 80 ? value[..77] + "..." : value;
            Console.WriteLine($"  {key}: {JsonSerializer.Serialize(shown)}");
        }
    }
}

using System.CommandLine;
using System.Globalization;
using Engine.Nn.Checkpoints;

namespace Engine.Cli;

/// <summary>
/// <c>engine logits</c>: runs a model once on a sequence of ids and writes the logits as safetensors, so the numbers
/// can be compared with PyTorch (<c>safetensors.torch.load_file</c>) or any other implementation.
/// </summary>
static class LogitsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face GPT-2 folder (config.json + model.safetensors) or a checkpoint file of `engine train`", Required = true };
        var ids = new Option<string>("--ids") { Description = "the input sequence as comma-separated token ids: --ids 1,2,3", Required = true };
        var adapters = AdapterOption.Create();
        var output = ValidatedOption.OutputFile("--out", "safetensors file to write: logits [1, T, V] (Float32) and input_ids [1, T] (Int64)", "logits.safetensors");
        var command = new Command("logits", "run a model (evaluation mode, no gradients) on one sequence of ids and save its logits as safetensors");
        foreach (var o in new Option[] { model, ids, output, adapters }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(ids)!, r.GetValue(output)!, r.GetValue(adapters)));
        return command;
    }

    static int Run(string modelPath, string idsText, string outPath, string[]? adapterFolders)
    {
        var gpt = ModelSource.Load(modelPath).Model;
        var peft = AdapterOption.Apply(gpt, adapterFolders);
        var ids = TokenIds.Parse(idsText, gpt.Config.VocabSize);
        if (ids.Length > gpt.Config.ContextLength)
            throw new ArgumentException($"--ids: {ids.Length} tokens exceed the model's context length {gpt.Config.ContextLength}");

        var input = Tensor.FromArray(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
        Tensor logits;
        gpt.Eval();
        using (Autograd.Autograd.NoGrad()) logits = (peft is not null ? peft.Forward(input) : gpt.Forward(input)).Contiguous();
        OutputPath.PrepareFile(outPath);
        Safetensors.Save(outPath, new Dictionary<string, Tensor> { ["logits"] = logits, ["input_ids"] = input },
            new Dictionary<string, string> { ["format"] = "pt" });

        int t = logits.Size(1), v = logits.Size(2);
        var last = logits.ToArray<float>().AsSpan((t - 1) * v, v).ToArray();
        var shown = string.Join(", ", last.Take(5).Select(x => x.ToString("G6", CultureInfo.InvariantCulture)));
        int argmax = Array.IndexOf(last, last.Max());
        Console.WriteLine($"logits [1, {t}, {v}] -> {outPath}");
        Console.WriteLine($"last position: [{shown}{(v > 5 ? ", ..." : "")}], argmax {argmax}");
        return 0;
    }
}

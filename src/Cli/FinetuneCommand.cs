using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Engine.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine finetune</c>: adapts a names model of <c>engine train</c> to other names (the downstream job: female →
/// male) with any registered adapter method (<see cref="PeftRegistry"/>) or full fine-tuning, and reports trainable
/// parameters, validation loss before and after, step time, tokens/s and peak memory. <c>--rank</c> is the method's
/// size knob as its preset reads it; <c>--set field=value</c> sets any field of the method's config (PEFT's names).
/// The adapter is saved in PEFT's layout (<c>--out</c>).
/// </summary>
static class FinetuneCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var method = new Option<string>("--adapter") { Description = $"adapter method: {string.Join(", ", NamesAdaptation.MethodNames())}", DefaultValueFactory = _ => "lora" };
        var data = new Option<string>("--data") { Description = "names to adapt to: a file (one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "male" };
        var steps = new Option<int>("--steps") { Description = "optimiser steps", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch") { Description = "sequences per batch", DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (AdamW, warm-up + cosine); the method's tuned rate by default" };
        var rank = new Option<int>("--rank") { Description = "size of the adapter as the method's preset reads it: rank, virtual tokens, bottleneck width (VeRA: 8x)", DefaultValueFactory = _ => 8 };
        var set = new Option<string[]>("--set") { Description = "a config field in PEFT's name, field=value (repeatable): --set lora_dropout=0.1", Arity = ArgumentArity.ZeroOrMore };
        var seed = new Option<ulong>("--seed") { Description = "seed of data order and initialisation", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--out") { Description = "folder for the adapter (PEFT layout); none by default" };
        var json = new Option<string?>("--json") { Description = "also write the figures as one JSON object to this file (the zoo reads it)" };
        var command = new Command("finetune", "adapt a names model to other names with any adapter method (or fully) and report parameters, loss, speed and memory");
        foreach (var o in new Option[] { checkpoint, method, data, steps, batch, lr, rank, set, seed, output, json }) command.Options.Add(o);
        command.SetAction(r => CommandErrors.Run("finetune", () => Run(r.GetValue(checkpoint)!, r.GetValue(method)!, r.GetValue(data)!, r.GetValue(steps),
            r.GetValue(batch), r.GetResult(lr) is null ? null : r.GetValue(lr), r.GetValue(rank), r.GetValue(set) ?? [], r.GetValue(seed), r.GetValue(output), r.GetValue(json))));
        PlotOption.AddTo(command, r => PlotFiles.InsideOrHere(r.GetValue(output), "finetune"));
        return command;
    }

    /// <summary>The learning rate the zoo tuned for <paramref name="method"/> (full fine-tuning: 3e-3).</summary>
    public static double TunedLearningRate(string method) =>
        method == NamesAdaptation.Full ? 3e-3 : PeftRegistry.ByCliName(method).Method.Attribute.ZooLearningRate;

    static int Run(string checkpointPath, string method, string data, int steps, int batch, double? lr, int rank, string[] sets, ulong seed, string? outFolder, string? jsonPath)
    {
        // Everything is checked before any work starts.
        if (steps < 1 || batch < 1 || rank < 1) throw new ArgumentException($"--steps, --batch and --rank must be positive, got {steps}, {batch}, {rank}");
        if (lr is { } given && !(given > 0 && double.IsFinite(given))) throw new ArgumentException($"--lr must be a positive finite number, got {given}");
        if (outFolder is not null && File.Exists(outFolder)) throw new ArgumentException($"--out '{outFolder}' is a file; give a folder");
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--set '{s}' is not field=value");
            fields[s[..eq].Trim()] = s[(eq + 1)..].Trim();
        }
        var config = NamesAdaptation.ConfigFor(method, rank, steps, seed, fields);
        double rate = lr ?? TunedLearningRate(method);
        var result = NamesAdaptation.Run(checkpointPath, method, config, data, steps, batch, rate, seed, Console.Out, out var trained, out var model);
        if (jsonPath is not null) File.WriteAllText(jsonPath, JsonSerializer.Serialize(result));
        if (outFolder is not null)
        {
            if (trained is PeftModel peft) peft.SavePretrained(outFolder);
            else
            {
                Directory.CreateDirectory(outFolder);
                Engine.Nn.Checkpoints.Safetensors.Save(Path.Combine(outFolder, "model.safetensors"), model.StateDict());
            }
            Console.WriteLine($"saved: {outFolder}");
        }
        return 0;
    }
}

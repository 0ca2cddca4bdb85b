using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Engine.Nn.Checkpoints;
using Engine.Nn;
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
    /// <summary>The file that <c>--adapter full --out DIR</c> writes in DIR: a names checkpoint that sample, generate and logits read.</summary>
    public const string FullModelFileName = "model.safetensors";

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var method = new Option<string>("--adapter") { Description = $"adapter method: {string.Join(", ", NamesAdaptation.MethodNames())}", DefaultValueFactory = _ => "lora" };
        var data = new Option<string>("--data") { Description = "names to adapt to: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "male" };
        var steps = ValidatedOption.Integer("--steps", "optimiser steps", 300, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var lr = ValidatedOption.OptionalPositive("--lr", "peak learning rate (AdamW, warm-up + cosine); the method's tuned rate by default");
        var rank = ValidatedOption.Integer("--rank", "size of the adapter as the method's preset reads it: rank, virtual tokens, bottleneck width (VeRA: 8x)", 8, min: 1);
        var set = new Option<string[]>("--set") { Description = "a config field in PEFT's name, field=value (repeatable): --set lora_dropout=0.1", Arity = ArgumentArity.ZeroOrMore };
        var seed = new Option<ulong>("--seed") { Description = "seed of data order and initialisation", DefaultValueFactory = _ => 1 };
        var output = ValidatedOption.OptionalOutputFolder("--out", $"folder for the adapter (PEFT layout; with --adapter full, a names checkpoint {FullModelFileName}); none by default");
        var json = ValidatedOption.OptionalOutputFile("--json", "also write the figures as one JSON object to this file (the zoo reads it)");
        var command = new Command("finetune", "adapt a names model to other names with any adapter method (or fully) and report parameters, loss, speed and memory");
        foreach (var o in new Option[] { checkpoint, method, data, steps, batch, lr, rank, set, seed, output, json }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(method)!, r.GetValue(data)!, r.GetValue(steps),
            r.GetValue(batch), r.GetValue(lr), r.GetValue(rank), r.GetValue(set) ?? [], r.GetValue(seed), r.GetValue(output), r.GetValue(json)));
        PlotOption.AddTo(command, r => PlotFiles.InsideOrHere(r.GetValue(output), "finetune"));
        return command;
    }

    /// <summary>The learning rate the zoo tuned for <paramref name="method"/> (full fine-tuning: 3e-3).</summary>
    public static double TunedLearningRate(string method)
    {
        if (method == NamesAdaptation.Full) return 3e-3;
        var (info, variant) = PeftRegistry.ByCliName(method);
        return info.ZooLearningRate(variant);
    }

    static int Run(string checkpointPath, string method, string data, int steps, int batch, double? lr, int rank, string[] sets, ulong seed, string? outFolder, string? jsonPath)
    {
        // Everything is checked before any work starts: the single options when parsed, here what needs the checkpoint.
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--set '{s}' is not field=value");
            fields[s[..eq].Trim()] = s[(eq + 1)..].Trim();
        }
        var gptConfig = NamesModelFile.ReadConfig(checkpointPath);
        double memory = MemoryEstimate.Gpt(gptConfig, batch, gptConfig.ContextLength, training: true)
            + (method == NamesAdaptation.Full ? 0 : MemoryEstimate.Adapter(gptConfig, rank, batch, gptConfig.ContextLength));
        MemoryEstimate.Require(memory, $"--rank {rank} with --batch {batch} on the model of '{checkpointPath}'", "lower --rank or --batch");
        var config = NamesAdaptation.ConfigFor(method, rank, steps, seed, fields);
        double rate = lr ?? TunedLearningRate(method);
        var result = NamesAdaptation.Run(checkpointPath, method, config, data, steps, batch, rate, seed, Console.Out, out var trained, out var model);
        if (outFolder is not null) Console.WriteLine($"saved: {Save(outFolder, trained, model, checkpointPath, steps)}");
        if (jsonPath is not null)
        {
            OutputPath.PrepareFile(jsonPath);
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(result));
        }
        return 0;
    }

    // An adapter in PEFT's layout; a fully fine-tuned model as a names checkpoint like train's (the base checkpoint's
    // configuration and vocabulary), which sample, generate, logits and finetune read like any other.
    static string Save(string folder, Module trained, Gpt model, string checkpointPath, int steps)
    {
        if (trained is PeftModel peft)
        {
            // An adapter that moved a data-driven part of the base weight (CorDA, LoRA-GA) would need its calibration
            // data to load: it is written as the plain LoRA of the original base instead, which loads alone.
            peft.SavePretrained(folder, convertToLora: peft.AdapterNames.Any(peft.NeedsDataToLoad));
            return $"{folder} (engine generate --model {checkpointPath} --adapter {folder})";
        }
        var names = TrainingCheckpoint.ReadInfo(checkpointPath).Values.Where(v => v.Key is NamesModelFile.ConfigKey or NamesModelFile.VocabularyKey)
            .ToDictionary(v => v.Key, v => v.Value);
        var file = Path.Combine(folder, FullModelFileName);
        TrainingCheckpoint.Save(file, model, optimizer: null, steps, values: names);
        return $"{file} (a names checkpoint: engine sample --checkpoint {file})";
    }
}

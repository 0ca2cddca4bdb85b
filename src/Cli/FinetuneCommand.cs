using System.CommandLine;
using System.Diagnostics;
using Engine.Autograd;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.Inserted;
using Engine.Peft.LowRank;
using Engine.Peft.Prompt;
using Engine.Peft.RandomBasis;
using Engine.Peft.Scaling;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine finetune</c>: adapts a names model of <c>engine train</c> to other names (the downstream job: female →
/// male) with one adapter method or full fine-tuning, and reports trainable parameters, validation loss before and
/// after, step time, tokens/s and peak memory. The adapter is saved in PEFT's layout (<c>--out</c>).
/// </summary>
static class FinetuneCommand
{
    /// <summary>Methods by command-line name.</summary>
    public static readonly string[] Methods = ["lora", "dora", "adalora", "vera", "ia3", "prefix", "prompt", "bottleneck", "full"];

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var method = new Option<string>("--adapter") { Description = $"adapter method: {string.Join(", ", Methods)}", DefaultValueFactory = _ => "lora" };
        var data = new Option<string>("--data") { Description = "names to adapt to: a file (one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "male" };
        var steps = new Option<int>("--steps") { Description = "optimiser steps", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch") { Description = "sequences per batch", DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (AdamW, warm-up + cosine)", DefaultValueFactory = _ => 3e-3 };
        var rank = new Option<int>("--rank") { Description = "size of the adapter: LoRA/DoRA/AdaLoRA rank, virtual tokens, bottleneck width; VeRA uses 8x", DefaultValueFactory = _ => 8 };
        var seed = new Option<ulong>("--seed") { Description = "seed of data order and initialisation", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--out") { Description = "folder for the adapter (PEFT layout); none by default" };
        var command = new Command("finetune", "adapt a names model to other names with an adapter (or fully) and report parameters, loss, speed and memory");
        foreach (var o in new Option[] { checkpoint, method, data, steps, batch, lr, rank, seed, output }) command.Options.Add(o);
        command.SetAction(r => CommandErrors.Run("finetune", () => Run(r.GetValue(checkpoint)!, r.GetValue(method)!, r.GetValue(data)!, r.GetValue(steps),
            r.GetValue(batch), r.GetValue(lr), r.GetValue(rank), r.GetValue(seed), r.GetValue(output))));
        return command;
    }

    /// <summary>The configuration of <paramref name="method"/> for the engine's GPT, or null for full fine-tuning.</summary>
    public static PeftConfig? ConfigFor(string method, int rank, int steps, ulong seed) => method switch
    {
        "lora" => new LoraConfig { R = rank, LoraAlpha = 2 * rank, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"], Seed = seed },
        "dora" => new LoraConfig { R = rank, LoraAlpha = 2 * rank, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"], UseDora = true, Seed = seed },
        "adalora" => new AdaLoraConfig
        {
            InitR = rank + rank / 2, TargetR = rank, LoraAlpha = 2 * rank, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"],
            TotalStep = steps, Tinit = steps / 10, Tfinal = steps / 5, DeltaT = Math.Max(1, steps / 50), Seed = seed,
        },
        "vera" => new VeraConfig { R = 8 * rank, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"], ProjectionPrngKey = seed },
        "ia3" => new Ia3Config { TargetModules = ["qkv", "mlp.proj"], FeedforwardModules = ["mlp.proj"] },
        "prefix" => new PrefixTuningConfig { NumVirtualTokens = rank, Seed = seed },
        "prompt" => new PromptTuningConfig { NumVirtualTokens = rank, Seed = seed },
        "bottleneck" => new BottleneckConfig { BottleneckSize = rank, TargetModules = ["attn.proj", "mlp.proj"], Seed = seed },
        "full" => null,
        _ => throw new ArgumentException($"--adapter: '{method}' is not one of {string.Join(", ", Methods)}"),
    };

    static int Run(string checkpointPath, string method, string data, int steps, int batch, double lr, int rank, ulong seed, string? outFolder)
    {
        if (steps < 1 || batch < 1 || rank < 1) throw new ArgumentException($"--steps, --batch and --rank must be positive, got {steps}, {batch}, {rank}");
        var config = ConfigFor(method, rank, steps, seed);
        var (model, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        var names = EmbeddedData.Load(data);
        var corpus = new NamesCorpus(names, tokenizer, 0.1, seed);
        // Virtual tokens take positions: the real context shrinks by their number.
        int context = model.Config.ContextLength - (config is PrefixTuningConfig or PromptTuningConfig ? rank : 0);
        if (context < 2) throw new ArgumentException($"--rank {rank} virtual tokens leave no room in the model's context of {model.Config.ContextLength}");

        PeftModel<Gpt>? peft = config is null ? null : PeftApi.Apply(model, config);
        Func<Tensor, Tensor> forward = peft is null ? model.Forward : peft.Forward;
        Module trained = peft is null ? model : peft;
        var count = new TrainableParameterCount(trained.ParameterCount(trainableOnly: true), trained.ParameterCount());
        Console.WriteLine($"data: {names.Count} names ({corpus.TrainTexts.Count} train, {corpus.ValidationTexts.Count} validation); method: {method}");
        Console.WriteLine(count.ToString());
        double before = ValidationLoss(trained, forward, corpus, context);
        Console.WriteLine($"validation loss before: {before:F4}");

        var optimizer = new AdamW(trained.TrainableParameters(), lr: lr, weightDecay: 0);
        var schedule = new WarmupCosineSchedule(Math.Min(50, steps / 10), steps, 0.1);
        var dataGenerator = new Generator(seed + 1);
        var clock = Stopwatch.StartNew();
        for (int step = 1; step <= steps; step++)
        {
            trained.Train();
            LrScheduler.Apply(optimizer, schedule, step - 1);
            var (x, y) = corpus.Batch(batch, context, dataGenerator);
            var loss = Losses.CrossEntropy(forward(x), y);
            // AdaLoRA's orthogonality regulariser (Zhang et al. 2023, equation 4).
            if (config is AdaLoraConfig) loss = loss + AdaLoraOrthogonality.Penalty(peft!);
            optimizer.ZeroGrad();
            loss.Backward();
            GradClip.ClipGradNorm(trained.TrainableParameters(), 1.0);
            optimizer.Step();
            peft?.OnStep(step - 1);
        }
        clock.Stop();
        double after = ValidationLoss(trained, forward, corpus, context);
        double msPerStep = clock.Elapsed.TotalMilliseconds / steps;
        double tokensPerSecond = (double)steps * batch * context / clock.Elapsed.TotalSeconds;
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        Console.WriteLine($"validation loss after {steps} steps: {after:F4}");
        Console.WriteLine(FormattableString.Invariant($"step time: {msPerStep:F1} ms ({tokensPerSecond:F0} tokens/s); peak memory (working set): {peak / (1024.0 * 1024):F0} MiB"));
        if (outFolder is not null)
        {
            if (peft is not null) peft.SavePretrained(outFolder);
            else
            {
                Directory.CreateDirectory(outFolder);
                Engine.Nn.Checkpoints.Safetensors.Save(Path.Combine(outFolder, "model.safetensors"), model.StateDict());
            }
            Console.WriteLine($"saved: {outFolder}");
        }
        return 0;
    }

    static double ValidationLoss(Module trained, Func<Tensor, Tensor> forward, NamesCorpus corpus, int context)
    {
        trained.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        double total = 0;
        long count = 0;
        foreach (var (x, y) in corpus.ValidationWindows(64, context))
        {
            total += Losses.CrossEntropy(forward(x), y).Item() * y.Numel;
            count += y.Numel;
        }
        return total / count;
    }
}

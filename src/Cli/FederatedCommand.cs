using System.CommandLine;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.Federated;
using Engine.Peft.LowRank;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine federated</c>: federated LoRA on the names job (LoRA-FAIR, arXiv 2411.14961; spec adapters-lowrank.md §9).
/// The names are split into K non-IID clients by first-letter ranges (<see cref="NamesClientSplit"/>); each round every
/// client trains the global LoRA pair locally (AdamW at a constant rate, a fresh optimiser each round, clipping at 1)
/// and the server aggregates with each rule of <see cref="FederatedSimulator"/>: averaging the factors (fedavg), the exact
/// average of the products with the residual folded into the base (product), and LoRA-FAIR's corrected B. Every rule
/// starts from the same checkpoint, adapter initialisation and client batches. Printed: per round the global
/// validation loss Σ p_k L_k and the gaps, then a table per rule.
/// FedPEFT's harness (spec seeds-remaining.md §11) adds: <c>--split dirichlet --alpha α</c> (label skew over the names'
/// first letters, <see cref="DirichletSplit"/>), <c>--client-fraction C</c> (a seeded draw of the participants each
/// round), <c>--dp-clip</c>/<c>--dp-noise</c> (DP-SGD local steps, <see cref="PrivateGradient"/>), and the bytes each
/// rule communicated.
/// </summary>
static class FederatedCommand
{
    /// <summary>What one rule measured: the round-0 measurement and every round's.</summary>
    public sealed record Row(string Rule, FederatedRound Before, IReadOnlyList<FederatedRound> Rounds);

    /// <summary>How the clients train and take part: participation C, and DP-SGD's clipping norm and noise multiplier (no DP when the clip is null).</summary>
    public sealed record Harness(double ClientFraction = 1.0, double? DpClip = null, double DpNoise = 0)
    {
        /// <summary>"C = 0.5, DP-SGD clip 1, noise 0.8" as the summary line prints it.</summary>
        public override string ToString() => FormattableString.Invariant(
            $"client fraction {ClientFraction:G3}{(DpClip is { } c ? $", DP-SGD clip {c:G3} noise multiplier {DpNoise:G3}" : "")}");
    }

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var data = new Option<string>("--data") { Description = "names to split among the clients: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "all" };
        var clients = ValidatedOption.Integer("--clients", "number of clients (names split by first-letter ranges)", 4, min: 1);
        var rounds = ValidatedOption.Integer("--rounds", "communication rounds", 10, min: 1);
        var localSteps = ValidatedOption.Integer("--local-steps", "optimiser steps of each client per round", 20, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var rank = ValidatedOption.Integer("--rank", "LoRA rank (alpha = 2 rank, on every linear layer as `engine finetune --adapter lora`)", 8, min: 1);
        var lr = ValidatedOption.OptionalPositive("--lr", "local learning rate (AdamW, constant); LoRA's tuned rate by default");
        var seed = new Option<ulong>("--seed") { Description = "seed of the split's validation sets, data order and initialisation", DefaultValueFactory = _ => 1 };
        var split = new Option<string>("--split") { Description = "letters: contiguous first-letter ranges; dirichlet: each first letter's names spread over the clients by Dirichlet(alpha) proportions (label skew)", DefaultValueFactory = _ => "letters" };
        var alpha = ValidatedOption.Positive("--alpha", "Dirichlet concentration of --split dirichlet (0.1: each client holds few letters; 100: close to IID)", 0.5);
        var fraction = ValidatedOption.Number("--client-fraction", "fraction of the clients drawn to train in each round (FedAvg's C)", 1.0, 0, 1, minExclusive: true);
        var dpClip = ValidatedOption.OptionalPositive("--dp-clip", "DP-SGD: clip each training window's gradient to this norm (local steps then take one backward pass per window)");
        var dpNoise = ValidatedOption.NonNegative("--dp-noise", "DP-SGD: Gaussian noise multiplier σ (noise std σ·clip on the summed gradients); needs --dp-clip", 0);
        var command = new Command("federated", "federated LoRA on non-IID names clients: factor averaging vs the exact product average vs LoRA-FAIR; validation loss, aggregation gap and bytes per round; Dirichlet splits, partial participation, DP-SGD");
        foreach (var o in new Option[] { checkpoint, data, clients, rounds, localSteps, batch, rank, lr, seed, split, alpha, fraction, dpClip, dpNoise }) command.Options.Add(o);
        command.SetAction(r =>
        {
            if (r.GetValue(dpNoise) > 0 && r.GetValue(dpClip) is null) throw new ArgumentException("--dp-noise needs --dp-clip: the noise is scaled by the clipping norm");
            var harness = new Harness(r.GetValue(fraction), r.GetValue(dpClip), r.GetValue(dpNoise));
            return Run(r.GetValue(checkpoint)!, r.GetValue(data)!, r.GetValue(clients), r.GetValue(rounds), r.GetValue(localSteps),
                r.GetValue(batch), r.GetValue(rank), r.GetValue(lr), r.GetValue(seed), r.GetValue(split)!, r.GetValue(alpha), harness, Console.Out);
        });
        return command;
    }

    static int Run(string checkpointPath, string data, int clients, int rounds, int localSteps, int batch, int rank, double? lr, ulong seed,
        string split, double alpha, Harness harness, TextWriter log)
    {
        var gptConfig = NamesModelFile.ReadConfig(checkpointPath);
        double memory = MemoryEstimate.Gpt(gptConfig, batch, gptConfig.ContextLength, training: true) + MemoryEstimate.Adapter(gptConfig, rank, batch, gptConfig.ContextLength);
        MemoryEstimate.Require(memory, $"--rank {rank} with --batch {batch} on the model of '{checkpointPath}'", "lower --rank or --batch");
        var names = EmbeddedData.Load(data);
        var parts = split switch
        {
            "letters" => NamesClientSplit.Split(names, clients),
            "dirichlet" => NamesClientSplit.Dirichlet(names, clients, alpha, seed),
            _ => throw new ArgumentException($"--split must be letters or dirichlet, got '{split}'"),
        };
        double rate = lr ?? FinetuneCommand.TunedLearningRate("lora");
        IFederatedAggregation[] rules = [new FactorAveraging(), new ProductAveraging(), new LoraFairAggregation()];
        var rows = rules.Select(rule => Simulate(checkpointPath, parts, rule, rounds, localSteps, batch, rank, rate, seed, log, harness)).ToList();
        log.WriteLine();
        string how = split == "dirichlet" ? FormattableString.Invariant($"Dirichlet split of the first letters, alpha {alpha:G3}") : "first-letter ranges";
        log.WriteLine(FormattableString.Invariant($"{clients} clients by {how} ({string.Join(", ", parts.Select(p => $"{p.Range}: {p.Names.Count} names"))}), {rounds} round{(rounds == 1 ? "" : "s")} of {localSteps} local step{(localSteps == 1 ? "" : "s")}, batch {batch}, LoRA rank {rank}, lr {rate:G3}, {harness}"));
        log.WriteLine(Table(rows, parts));
        return 0;
    }

    /// <summary>Runs <paramref name="rounds"/> rounds of <paramref name="rule"/> from a fresh copy of the checkpoint; one line per round goes to <paramref name="log"/>.</summary>
    public static Row Simulate(string checkpointPath, IReadOnlyList<NamesClientSplit.Part> parts, IFederatedAggregation rule,
        int rounds, int localSteps, int batch, int rank, double lr, ulong seed, TextWriter log, Harness? harness = null)
    {
        harness ??= new Harness();
        var (gpt, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        int context = gpt.Config.ContextLength;
        var config = (LoraConfig)NamesAdaptation.ConfigFor("lora", rank, rounds * localSteps, seed, new Dictionary<string, string>())!;
        var peft = PeftApi.Apply(gpt, config);
        var clients = parts.Select((part, k) =>
        {
            var corpus = NamesData.Corpus(part.Names, tokenizer, seed, $"client {k} ({part.Range})", context, $"the model's context of {context} tokens");
            // One generator per client for the whole run: every rule sees the same batches.
            var generator = new Generator(seed + 1 + (ulong)k);
            var noise = new Generator(seed + 1000 + (ulong)k);
            return new FederatedClient(part.Range, corpus.TrainTexts.Count,
                (model, round) => TrainLocally(model, corpus, generator, noise, localSteps, batch, context, lr, rule.Name, harness),
                model => NamesAdaptation.ValidationLoss(model, model.Forward, corpus, context));
        }).ToList();
        var simulator = new FederatedSimulator(peft, rule, clients, options: new FederatedOptions(harness.ClientFraction, seed + 500));
        var before = simulator.Evaluate();
        log.WriteLine(FormattableString.Invariant($"{rule.Name} round 0: global validation loss {before.GlobalLoss:F4}"));
        var records = simulator.Run(rounds, r => log.WriteLine(FormattableString.Invariant(
            $"{rule.Name} round {r.Round}: global validation loss {r.GlobalLoss:F4} (clients {string.Join(" ", r.ClientLosses.Select(l => l.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}); gap of averaged factors {r.FactorAverageGap:F4}, after aggregation {r.GlobalGap:F4}")
            + (r.Participants.Count < parts.Count ? $"; trained: {string.Join(" ", r.Participants.Select(k => parts[k].Range))}" : "")));
        return new Row(rule.Name, before, records);
    }

    static void TrainLocally(PeftModel model, NamesCorpus corpus, Generator generator, Generator noise, int steps, int batch, int context, double lr, string rule, Harness harness)
    {
        var optimizer = new AdamW(model.ParamGroups(lr, 0));
        if (harness.DpClip is { } clip)
        {
            // DP-SGD: each window's gradient clipped on its own (this replaces the batch's norm clipping), noise on the sum.
            var trainable = model.TrainableParameters().ToList();
            for (int step = 0; step < steps; step++)
            {
                var (x, y) = corpus.Batch(batch, context, generator);
                var result = PrivateGradient.Compute(trainable, batch, i => Losses.CrossEntropy(model.Forward(x.Narrow(0, i, 1)), y.Narrow(0, i, 1)), clip, harness.DpNoise, noise);
                if (!double.IsFinite(result.MeanLoss)) throw new TrainingDivergedException("loss", step + 1, result.MeanLoss, $"Federated {rule} with DP-SGD diverged. Try a lower --lr.");
                optimizer.Step();
                optimizer.ZeroGrad();
            }
            return;
        }
        var options = new TrainerOptions(steps, new ConstantSchedule(), MaxGradNorm: 1.0, TokensPerStep: (long)batch * context);
        new Trainer(model, optimizer, options).Run(TrainingDivergedException.Guard(_ =>
        {
            var (x, y) = corpus.Batch(batch, context, generator);
            return Losses.CrossEntropy(model.Forward(x), y);
        }, () => $"Federated {rule} diverged. Try a lower --lr."));
    }

    /// <summary>
    /// The table: per rule, the global validation loss before and after the rounds, each client's loss after, and the
    /// gaps of the last round and averaged over the rounds (averaged factors, and the pair the rule broadcasts).
    /// </summary>
    public static string Table(IReadOnlyList<Row> rows, IReadOnlyList<NamesClientSplit.Part> parts)
    {
        var lines = new List<string>
        {
            "| aggregation | global loss before | global loss after | " + string.Join(" | ", parts.Select(p => $"client {p.Range}")) +
                " | gap of averaged factors (last / mean) | gap after aggregation (last / mean) | MB sent down / up (all rounds) |",
            "|---|---:|---:|" + string.Concat(parts.Select(_ => "---:|")) + "---:|---:|---:|",
        };
        foreach (var r in rows)
        {
            var last = r.Rounds[^1];
            lines.Add(FormattableString.Invariant($"| {r.Rule} | {r.Before.GlobalLoss:F4} | {last.GlobalLoss:F4} | ")
                + string.Join(" | ", last.ClientLosses.Select(l => l.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))
                + FormattableString.Invariant($" | {last.FactorAverageGap:F4} / {r.Rounds.Average(x => x.FactorAverageGap):F4} | {last.GlobalGap:F4} / {r.Rounds.Average(x => x.GlobalGap):F4}")
                + FormattableString.Invariant($" | {r.Rounds.Sum(x => x.Communication.Down) / 1e6:F3} / {r.Rounds.Sum(x => x.Communication.Up) / 1e6:F3} |"));
        }
        return string.Join(Environment.NewLine, lines);
    }
}

using System.CommandLine;
using System.Diagnostics;
using Engine.Autograd;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine state-tracking</c>: the DeltaProduct paper's state-tracking experiment (parity and the S3 word
/// problem). Small recurrent models train at one length and are tested at that length and twice it; DeltaProduct
/// with two Householder steps and eigenvalues in [-1, 1] tracks the state, DeltaNet with beta in [0, 1] cannot
/// represent parity's sign flip (Grazzi et al. 2024).
/// </summary>
static class StateTrackingCommand
{
    sealed record Model(string Name, int Householder, bool NegativeEigenvalues);

    public static Command Create()
    {
        var steps = ValidatedOption.Integer("--steps", "training steps per model and task", 800, min: 1);
        var layers = ValidatedOption.Integer("--layers", "recurrent layers", 2, min: 1);
        var length = ValidatedOption.Integer("--length", "training sequence length (testing uses it and twice it)", 16, min: 1, max: MaxLength);
        var width = ValidatedOption.Integer("--width", $"model width (a multiple of the {Heads} heads)", 64, min: Heads);
        var seed = new Option<ulong>("--seed") { Description = "seed", DefaultValueFactory = _ => 1 };
        var command = new Command("state-tracking", "train DeltaProduct and DeltaNet on parity and the S3 word problem; print the accuracy table");
        foreach (var o in new Option[] { steps, layers, length, width, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(steps), r.GetValue(layers), r.GetValue(length), r.GetValue(width), r.GetValue(seed)));
        PlotOption.AddTo(command, _ => PlotFiles.Here("state-tracking"));
        return command;
    }

    const int Heads = 2, Batch = 64, TestBatch = 256, MaxLength = 10_000_000;

    static int Run(int steps, int layers, int length, int width, ulong seed)
    {
        if (width % Heads != 0) throw new ArgumentException($"--width must be a multiple of the models' {Heads} heads, got {width}");
        // Training keeps every position's activations for backward; testing runs twice the length on more sequences.
        // The larger model (two Householder steps) bounds both.
        var largest = Config(new Model("", 2, true), layers, length, width);
        MemoryEstimate.Require(Math.Max(MemoryEstimate.Gpt(largest, Batch, length, training: true), MemoryEstimate.Gpt(largest, TestBatch, 2 * length, training: false)),
            $"--length {length} with --width {width} and --layers {layers}", "lower them");
        var tasks = new (string Name, int Classes, Func<int, Generator, (long[], long[])> Make)[]
        {
            ("parity", 2, StateTrackingTasks.Parity),
            ("S3", 6, StateTrackingTasks.S3),
        };
        Model[] models = [new("DeltaProduct n_h=2, beta in [0,2]", 2, true), new("DeltaNet n_h=1, beta in [0,1]", 1, false)];
        Console.WriteLine($"{layers} DeltaProduct layer(s) of width {width}, {steps} steps, batch 64, train length {length}, test lengths {length} and {2 * length}; accuracy of the final state (last position) over 256 sequences");
        Console.WriteLine();
        Console.WriteLine($"| task | model | accuracy at {length} | accuracy at {2 * length} | train time |");
        Console.WriteLine("|---|---|---:|---:|---:|");
        foreach (var task in tasks)
            foreach (var m in models)
            {
                var clock = Stopwatch.StartNew();
                PlotRecorder.Label($"{task.Name}, {m.Name}");
                var gpt = Train(task.Make, task.Classes, m, steps, layers, length, width, seed);
                double atTrain = Accuracy(gpt, task.Classes, task.Make, length, seed + 100);
                double atDouble = Accuracy(gpt, task.Classes, task.Make, 2 * length, seed + 200);
                Console.WriteLine($"| {task.Name} | {m.Name} | {100 * atTrain:F1}% | {100 * atDouble:F1}% | {clock.Elapsed.TotalSeconds:F0} s |");
            }
        return 0;
    }

    // DeltaProduct layers in the GPT skeleton (no attention, no position embeddings: the recurrence orders
    // tokens) with an untied head whose first `classes` logits score the labels.
    static Gpt Train(Func<int, Generator, (long[], long[])> task, int classes, Model m, int steps, int layers, int length, int width, ulong seed)
    {
        var init = new Generator(seed);
        var gpt = new Gpt(Config(m, layers, length, width), init);
        var optimizer = new AdamW(gpt.Parameters(), 3e-3, weightDecay: 0);
        var schedule = new WarmupCosineSchedule(steps / 10, steps);
        var data = new Generator(seed + 1);
        new Trainer(gpt, optimizer, PlotRecorder.Observe(new TrainerOptions(steps, schedule, MaxGradNorm: 1.0))).Run(TrainingDivergedException.Guard(_ =>
        {
            var (x, y) = StateTrackingTasks.Batch(task, Batch, length, data);
            return Losses.CrossEntropy(gpt.Forward(x).Narrow(-1, 0, classes), y);
        }, () => "Try a smaller --width or fewer --layers."));
        return gpt;
    }

    static GptConfig Config(Model m, int layers, int length, int width) =>
        new(VocabSize: 6, ContextLength: 4 * length, DModel: width, Layers: layers, Heads: Heads, Rotary: true, TiedHead: false,
            Mixers: Enumerable.Repeat(TokenMixers.DeltaProduct, layers).ToArray(), DeltaHouseholder: m.Householder, DeltaNegativeEigenvalues: m.NegativeEigenvalues);

    static double Accuracy(Gpt gpt, int classes, Func<int, Generator, (long[], long[])> task, int length, ulong seed)
    {
        gpt.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        var (x, y) = StateTrackingTasks.Batch(task, TestBatch, length, new Generator(seed));
        // The state after the whole sequence: the last position's prediction (chance is 1/classes).
        var predicted = gpt.Forward(x).Narrow(-1, 0, classes).Select(1, -1).ArgMax(-1);
        y = y.Select(1, -1);
        return predicted.Eq(y).To(DType.Float64).Mean().Item();
    }
}

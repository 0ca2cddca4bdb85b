using System.CommandLine;
using System.Diagnostics;
using Engine.Autograd;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine long-range</c>: an S4D model against an attention model with the same parameter count on a task whose
/// answer depends on the whole sequence (<see cref="LongRangeTasks.NoisySineFrequency"/>, length 1024 by default).
/// </summary>
static class LongRangeCommand
{
    public static Command Create()
    {
        var steps = ValidatedOption.Integer("--steps", "training steps per model", 500, min: 1);
        var length = ValidatedOption.Integer("--length", "sequence length", 1024, min: 2, max: 10_000_000);
        var width = ValidatedOption.Integer("--width", $"model width (both models; a multiple of their {Heads} heads)", 32, min: Heads);
        var seed = new Option<ulong>("--seed") { Description = "seed", DefaultValueFactory = _ => 1 };
        var command = new Command("long-range", "S4D vs attention of the same parameter count on a length-1024 dependency: accuracy table");
        foreach (var o in new Option[] { steps, length, width, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(steps), r.GetValue(length), r.GetValue(width), r.GetValue(seed)));
        PlotOption.AddTo(command, _ => PlotFiles.Here("long-range"));
        return command;
    }

    const int Bins = 16, Batch = 8, TestBatch = 64, Heads = 2;

    static int Run(int steps, int length, int width, ulong seed)
    {
        if (width % Heads != 0) throw new ArgumentException($"--width must be a multiple of the models' {Heads} heads, got {width}");
        var mixers = new[] { ("S4D", TokenMixers.S4D), ("attention (rotary)", TokenMixers.Attention) };
        foreach (var (_, mixer) in mixers)
            MemoryEstimate.Require(Math.Max(MemoryEstimate.Gpt(Config(mixer, length, width), Batch, length, training: true),
                MemoryEstimate.Gpt(Config(mixer, length, width), TestBatch, length, training: false)), $"--length {length} with --width {width}", "lower them");
        int classes = LongRangeTasks.Frequencies.Length;
        Console.WriteLine($"task: frequency of a noisy sine (noise sd 0.8, {classes} classes, chance {100.0 / classes:F0}%), length {length}; 2 layers of width {width}, {steps} steps of batch {Batch}");
        Console.WriteLine();
        Console.WriteLine($"| model | parameters | held-out accuracy | train time |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (name, mixer) in mixers)
        {
            var clock = Stopwatch.StartNew();
            var model = new Gpt(Config(mixer, length, width), new Generator(seed));
            var optimizer = new AdamW(SsmParamGroups.Build(model, 3e-3));
            var data = new Generator(seed + 1);
            PlotRecorder.Label(name);
            new Trainer(model, optimizer, PlotRecorder.Observe(new TrainerOptions(steps, MaxGradNorm: 1.0))).Run(TrainingDivergedException.Guard(_ =>
            {
                var (x, y) = LongRangeTasks.NoisySineFrequency(Batch, length, Bins, 0.8, data);
                return Losses.CrossEntropy(model.Forward(x).Select(1, -1).Narrow(-1, 0, classes), y);
            }, () => "Try a smaller --width or a shorter --length."));
            model.Eval();
            double accuracy;
            using (Autograd.Autograd.NoGrad())
            {
                var (x, y) = LongRangeTasks.NoisySineFrequency(TestBatch, length, Bins, 0.8, new Generator(seed + 100));
                accuracy = model.Forward(x).Select(1, -1).Narrow(-1, 0, classes).ArgMax(-1).Eq(y).To(DType.Float64).Mean().Item();
            }
            Console.WriteLine($"| {name} | {model.ParameterCount():N0} | {100 * accuracy:F1}% | {clock.Elapsed.TotalSeconds:F0} s |");
        }
        return 0;
    }

    // Rotary positions (no parameters) and an untied head keep the two models' parameter counts comparable.
    static GptConfig Config(string mixer, int length, int width) =>
        new(Bins, length, width, 2, Heads, Rotary: true, TiedHead: false, Mixers: [mixer, mixer], S4DStateSize: 32);
}

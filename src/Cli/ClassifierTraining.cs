using Engine.Peft;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>The training schedule both classify jobs use, and how they report what they train.</summary>
static class ClassifierTraining
{
    /// <summary>"N trainable of M parameters (p%)" of <paramref name="trained"/>.</summary>
    public static string Count(Module trained)
    {
        long trainable = trained.ParameterCount(trainableOnly: true), total = trained.ParameterCount();
        return $"{trainable:N0} trainable of {total:N0} parameters ({100.0 * trainable / total:F2}%)";
    }

    /// <summary>
    /// AdamW (weight decay 0.01) on the trainable parameters, warm-up over a tenth of the steps then cosine decay,
    /// gradients clipped at norm 1; prints the loss every <paramref name="printEvery"/> steps.
    /// </summary>
    public static void Run(Module trained, int steps, double lr, int printEvery, Func<Tensor> loss)
    {
        var optimizer = new AdamW(trained is PeftModel peft ? peft.ParamGroups(lr, 0.01) : [new ParamGroup(trained.TrainableParameters(), lr, 0.01)]);
        var schedule = new WarmupCosineSchedule(Math.Max(1, steps / 10), steps);
        var options = new TrainerOptions(steps, schedule, MaxGradNorm: 1.0,
            Progress: p => { if (p.Completed % printEvery == 0 || p.Completed == steps) Console.WriteLine($"step {p.Completed}/{steps}: loss {p.Loss:F4}  ({p.Elapsed.TotalSeconds:F0} s)"); });
        new Trainer(trained, optimizer, PlotRecorder.Observe(options, trained)).Run(TrainingDivergedException.Guard(_ => loss(), () => "Nothing was saved. Try a lower --lr."));
    }
}

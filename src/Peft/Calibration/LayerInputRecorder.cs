namespace Engine.Peft;

/// <summary>
/// Sees the inputs of chosen modules while a model runs (PyTorch's forward pre-hooks, which PEFT's EVA and CorDA use):
/// each target is swapped for a pass-through module that reports its input and calls the target, and swapped back
/// afterwards, also when the run throws. The model's outputs are unchanged.
/// </summary>
public static class LayerInputRecorder
{
    /// <summary>
    /// Runs every batch of <paramref name="context"/>'s data without gradients; <paramref name="observe"/> gets the index
    /// of the target (in <see cref="CalibrationContext.Targets"/>) and each input it receives, detached.
    /// </summary>
    public static void Record(CalibrationContext context, Action<int, Tensor> observe)
    {
        var swapped = new List<(string Path, Module Original)>();
        try
        {
            for (int i = 0; i < context.Targets.Count; i++)
            {
                var (path, module) = context.Targets[i];
                int index = i;
                context.Model.SwapModule(path.Engine, new Observed(module, x => observe(index, x.Detach())));
                swapped.Add((path.Engine, module));
            }
            context.Data.RunForward();
        }
        finally
        {
            for (int i = swapped.Count - 1; i >= 0; i--) context.Model.SwapModule(swapped[i].Path, swapped[i].Original);
        }
    }

    // Not registered as a child: the swap is temporary and must not show in the model's names or parameters.
    sealed class Observed(Module inner, Action<Tensor> observe) : Module
    {
        public override Tensor Forward(Tensor input)
        {
            observe(input);
            return inner.Forward(input);
        }
    }
}

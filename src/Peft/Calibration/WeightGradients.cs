namespace Engine.Peft;

/// <summary>
/// The gradient counterpart of <see cref="LayerInputRecorder"/> (PEFT's <c>estimate_gradients</c> in loraga.py, for
/// LoRA-GA): the loss of every batch of the data is backpropagated to chosen weights, and their gradients are averaged
/// over the batches. Only those weights require gradients meanwhile (the rest of the model records no graph); every
/// parameter's RequiresGrad and Grad, the chosen weights' included, are put back afterwards, also when a batch throws.
/// The model runs in the mode it is in (PEFT switches to training mode; leaving the mode to the caller keeps a rerun
/// on the same data, as when an adapter file is loaded, bit-identical even with dropout).
/// </summary>
public static class WeightGradients
{
    /// <summary>
    /// The average over <paramref name="data"/>'s batches of d loss / d w for each of <paramref name="weights"/> (which
    /// must be parameters of <paramref name="model"/>), in Float64 on the CPU.
    /// </summary>
    /// <exception cref="ArgumentException">A batch's loss is not a scalar.</exception>
    /// <exception cref="InvalidOperationException">The loss does not depend on one of the weights.</exception>
    public static Tensor[] Average(Module model, CalibrationData data, IReadOnlyList<Tensor> weights) =>
        Accumulate(model, data, weights, g => g).Select(s => s / data.Batches).ToArray();

    /// <summary>
    /// The sum over <paramref name="data"/>'s batches of (d loss_b / d w)², elementwise, for each of
    /// <paramref name="weights"/>, in Float64 on the CPU: SPT's sensitivity (ziplab/SPT <c>engine.py::get_sensitivity</c>),
    /// the squared gradient of every batch accumulated (not the square of the average).
    /// </summary>
    /// <exception cref="ArgumentException">A batch's loss is not a scalar.</exception>
    /// <exception cref="InvalidOperationException">The loss does not depend on one of the weights.</exception>
    public static Tensor[] SumOfSquares(Module model, CalibrationData data, IReadOnlyList<Tensor> weights) =>
        Accumulate(model, data, weights, g => g * g);

    // The sum over the batches of each weight's gradient (Float64, CPU) passed through `each`.
    static Tensor[] Accumulate(Module model, CalibrationData data, IReadOnlyList<Tensor> weights, Func<Tensor, Tensor> each)
    {
        var parameters = model.Parameters().ToList();
        var saved = parameters.Select(p => (p, p.RequiresGrad, p.Grad)).ToList();
        var sums = new Tensor?[weights.Count];
        try
        {
            foreach (var p in parameters) p.RequiresGrad = false;
            foreach (var w in weights) w.RequiresGrad = true;
            using var _ = Autograd.Autograd.EnableGrad();
            for (int i = 0; i < data.Batches; i++)
            {
                foreach (var w in weights) w.Grad = null;
                var loss = data.Loss(i);
                if (loss.Numel != 1) throw new ArgumentException($"WeightGradients: the loss of batch {i} must be a scalar, got shape {Shapes.Format(loss.Shape)}");
                Autograd.Autograd.Backward(loss);
                for (int k = 0; k < weights.Count; k++)
                {
                    var g = weights[k].Grad ?? throw new InvalidOperationException($"WeightGradients: the loss of batch {i} does not depend on weight {k} ({Shapes.Format(weights[k].Shape)})");
                    var g64 = each(g.Detach().To(Device.Cpu).To(DType.Float64));
                    sums[k] = sums[k] is { } s ? s + g64 : g64;
                }
            }
        }
        finally
        {
            foreach (var (p, requiresGrad, grad) in saved)
            {
                p.RequiresGrad = requiresGrad;
                p.Grad = grad;
            }
        }
        return sums.Select(s => s!).ToArray();
    }

    /// <summary>The weight of a calibration target: a plain <see cref="Linear"/>, or the base layer of an adapter layer.</summary>
    /// <exception cref="NotSupportedException">The target is neither.</exception>
    public static Tensor WeightOf(Module target) => target switch
    {
        AdapterLayer layer => layer.BaseLayer.Weight,
        Linear linear => linear.Weight,
        _ => throw new NotSupportedException($"WeightGradients: a target must be a Linear layer or an adapter layer over one, got {target.GetType().Name}"),
    };
}

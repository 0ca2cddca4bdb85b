namespace Engine.Peft;

/// <summary>
/// Data for initialisations that look at the model's activations or gradients before training (PEFT's EVA, CorDA and
/// LoRA-GA, whose <c>initialize_lora_eva_weights</c>, <c>preprocess_corda</c> and <c>preprocess_loraga</c> take a data
/// loader or a callback): <see cref="Batches"/> batches, and a function that runs the model (the one being adapted,
/// through its own forward) on batch i and returns the batch's scalar loss. Methods that only need activations ignore
/// the loss's value; methods that need gradients call backward on it.
/// <code>var data = new CalibrationData(8, i => Losses.CrossEntropy(gpt.Forward(xs[i]), ys[i]));
/// var peft = Peft.Apply(gpt, new LoraConfig { InitLoraWeights = LoraInit.Corda, ... }, calibration: data);</code>
/// </summary>
/// <param name="Batches">How many batches the methods may run (at least 1).</param>
/// <param name="Loss">Runs the model on batch i (0 &lt;= i &lt; <paramref name="Batches"/>) and returns the scalar loss.</param>
public sealed record CalibrationData(int Batches, Func<int, Tensor> Loss)
{
    /// <summary>
    /// Optional labels of batch i (token ids, any shape with one entry per position of the model's input), for
    /// initialisations that drop ignored positions from their statistics (EVA's <c>use_label_mask</c>); null for none.
    /// </summary>
    public Func<int, Tensor>? Labels { get; init; }

    /// <summary>Runs every batch in order without recording gradients (for statistics of activations).</summary>
    public void RunForward()
    {
        using var _ = Autograd.Autograd.NoGrad();
        for (int i = 0; i < Batches; i++) Loss(i);
    }

    internal void Validate(string method)
    {
        if (Batches < 1) throw new ArgumentException($"{method}: calibration data must have at least one batch, got {Batches}");
        ArgumentNullException.ThrowIfNull(Loss);
    }
}

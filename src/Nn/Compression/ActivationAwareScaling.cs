namespace Engine.Nn.Compression;

/// <summary>
/// BitStack's optional activation-aware channel scaling (spec adapters-other.md §17; reference xinghaow99/BitStack
/// <c>bitstack/utils/scale_utils.py</c>, <c>get_act_scale</c>, <c>scale_ln_fcs</c>, <c>scale_fc_fc</c>): before
/// decomposition each input channel c of a Linear is scaled by s_c = (mean over sequences of ‖X[b, :, c]‖₂) + 1e-3, so
/// channels that carry large activations get larger weights and the decomposition spends its accuracy there; the
/// previous op is divided by s, so the model computes exactly the same function. In a GPT-2 block:
/// {qkv} after <c>ln1</c> (its weight and bias ÷ s), {o} after the value rows of <c>qkv</c> (when there is one value
/// head per query head, so the shapes match), {fc} after <c>ln2</c>. The MLP's <c>proj</c> follows a GELU, which no
/// scale passes through; the reference wraps such activations in a dividing module (<c>ScaledActivation</c>), the engine
/// leaves <c>proj</c> unscaled. Parallel blocks and non-attention mixers are left unscaled too.
/// </summary>
public static class ActivationAwareScaling
{
    /// <summary>Added to every scale (the reference's eps).</summary>
    public const double Epsilon = 1e-3;

    /// <summary>s_c = mean over the sequences of all <paramref name="inputs"/> [batch, time, channels] of ‖X[b, :, c]‖₂, plus <see cref="Epsilon"/>.</summary>
    public static double[] Scales(IReadOnlyList<Tensor> inputs)
    {
        if (inputs.Count == 0) throw new ArgumentException("ActivationAwareScaling.Scales: no inputs");
        int channels = inputs[0].Size(-1);
        var sums = new double[channels];
        long sequences = 0;
        foreach (var x in inputs)
        {
            if (x.Rank != 3 || x.Size(2) != channels)
                throw new ArgumentException($"ActivationAwareScaling.Scales: inputs must be [batch, time, {channels}], got {Shapes.Format(x.Shape)}");
            int b = x.Size(0), t = x.Size(1);
            var data = x.ToDoubleArray();
            for (int i = 0; i < b; i++)
                for (int c = 0; c < channels; c++)
                {
                    double squares = 0;
                    for (int j = 0; j < t; j++) squares += data[(i * t + j) * channels + c] * data[(i * t + j) * channels + c];
                    sums[c] += Math.Sqrt(squares);
                }
            sequences += b;
        }
        return Array.ConvertAll(sums, v => v / sequences + Epsilon);
    }

    /// <summary>
    /// Measures the inputs of the block Linears on <paramref name="calibration"/> token batches and folds the scales
    /// into <paramref name="model"/> as described above; returns the scaled weights ("LAYER.KIND", <see cref="LowRankGpt.Key"/>).
    /// </summary>
    public static List<string> Apply(Gpt model, IReadOnlyList<Tensor> calibration)
    {
        var targets = new List<(TransformerBlock Block, int Layer, MultiHeadAttention Attn)>();
        for (int l = 0; l < model.Blocks.Count; l++)
        {
            var block = model.Blocks[l];
            if (!block.Parallel && block.MixerName == TokenMixers.AttentionSlot && block.FeedForwardName == TransformerBlock.MlpSlot) targets.Add((block, l, block.Attn));
        }
        // Record each Linear's input by wrapping it for the calibration passes (forward passes call children through Child).
        var recorders = new List<(Module Parent, string Name, Recorder Recorder)>();
        foreach (var (block, _, attn) in targets)
            foreach (var (parent, name) in new (Module, string)[] { (attn, "qkv"), (attn, "proj"), (block.Mlp, "fc") })
            {
                var recorder = new Recorder(parent.Children().First(c => c.Name == name).Module);
                parent.ReplaceModule(name, recorder);
                recorders.Add((parent, name, recorder));
            }
        try
        {
            using var _ = Autograd.Autograd.NoGrad();
            foreach (var ids in calibration) model.Forward(ids);
        }
        finally
        {
            foreach (var (parent, name, recorder) in recorders) parent.ReplaceModule(name, recorder.Wrapped);
        }

        var scaled = new List<string>();
        using (Autograd.Autograd.NoGrad())
        {
            for (int i = 0; i < targets.Count; i++)
            {
                var (block, layer, attn) = targets[i];
                var (qkvIn, oIn, fcIn) = (Scales(recorders[3 * i].Recorder.Inputs), Scales(recorders[3 * i + 1].Recorder.Inputs), Scales(recorders[3 * i + 2].Recorder.Inputs));
                ScaleNormAndLinear(block.Ln1, attn.Qkv, qkvIn);
                scaled.Add($"{layer}.qkv");
                if (attn.KvHeads == attn.Options.Heads)
                {
                    ScaleValueRowsAndLinear(attn.Qkv, attn.Proj, oIn);
                    scaled.Add($"{layer}.o");
                }
                ScaleNormAndLinear(block.Ln2, block.Mlp.Fc, fcIn);
                scaled.Add($"{layer}.fc");
            }
        }
        return scaled;
    }

    // LayerNorm ÷ s, the next Linear's columns × s (scale_ln_fcs).
    static void ScaleNormAndLinear(LayerNorm norm, Linear next, double[] s)
    {
        var column = Tensor.FromArray(Array.ConvertAll(s, v => (float)v), [s.Length]);
        norm.Weight.CopyFrom(norm.Weight / column);
        norm.Bias.CopyFrom(norm.Bias / column);
        next.Weight.CopyFrom(next.Weight * column.Unsqueeze(0));
    }

    // The value rows (the last rows of the packed q, k, v) ÷ s, the output projection's columns × s (scale_fc_fc):
    // attention mixes value channels position by position, so channel c of its output carries exactly the 1/s_c.
    static void ScaleValueRowsAndLinear(Linear qkv, Linear next, double[] s)
    {
        int rows = qkv.OutFeatures, values = s.Length;
        var rowScale = new float[rows];
        for (int r = 0; r < rows; r++) rowScale[r] = r < rows - values ? 1f : (float)(1 / s[r - (rows - values)]);
        var divide = Tensor.FromArray(rowScale, [rows]);
        qkv.Weight.CopyFrom(qkv.Weight * divide.Unsqueeze(1));
        qkv.Bias?.CopyFrom(qkv.Bias * divide);
        next.Weight.CopyFrom(next.Weight * Tensor.FromArray(Array.ConvertAll(s, v => (float)v), [values]).Unsqueeze(0));
    }

    // Passes its input through and keeps it (calibration only; never saved).
    sealed class Recorder(Module wrapped) : Module, IModuleWrapper
    {
        public List<Tensor> Inputs { get; } = [];

        public Module Wrapped => wrapped;

        public override Tensor Forward(Tensor input)
        {
            Inputs.Add(input.Detach());
            return wrapped.Forward(input);
        }
    }
}

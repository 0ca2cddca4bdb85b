namespace Engine.Nn;

/// <summary>
/// A multi-layer long short-term memory network (Hochreiter and Schmidhuber 1997) with torch.nn.LSTM's semantics,
/// parameter names and initialisation, so its state dict maps one to one: per layer k and direction,
/// <c>weight_ih_l{k}</c> [4h, in], <c>weight_hh_l{k}</c> [4h, h], <c>bias_ih_l{k}</c> and <c>bias_hh_l{k}</c> [4h]
/// (suffix <c>_reverse</c> for the backward direction), gate rows in the order input, forget, cell, output:
/// <code>
/// i = σ(W_ii x + b_ii + W_hi h + b_hi)   f = σ(W_if x + b_if + W_hf h + b_hf)
/// g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
/// c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')
/// </code>
/// Layer k &gt; 0 reads the (concatenated, for a bidirectional network) outputs of layer k − 1, through dropout
/// while training except after the last layer. Built from the engine's differentiable ops, so autograd gives every
/// gradient. torch's <c>proj_size</c> is not supported.
/// <code>var lstm = new Lstm(8, 16, numLayers: 2, bidirectional: true, batchFirst: true); var y = lstm.Forward(x); // [B, T, 32]</code>
/// </summary>
public sealed class Lstm : Module
{
    readonly Generator? _generator;

    /// <summary>
    /// A network from <paramref name="inputSize"/> features to <paramref name="hiddenSize"/> per direction. Every
    /// weight and bias starts at U(−1/√h, 1/√h), as torch's.
    /// </summary>
    public Lstm(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false, double dropout = 0,
        bool bidirectional = false, Generator? generator = null)
    {
        if (inputSize < 1 || hiddenSize < 1 || numLayers < 1)
            throw new ArgumentException($"Lstm: input size ({inputSize}), hidden size ({hiddenSize}) and layers ({numLayers}) must be positive");
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), $"Lstm: dropout must be in [0, 1), got {dropout}");
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        HasBias = bias;
        BatchFirst = batchFirst;
        DropoutP = dropout;
        Bidirectional = bidirectional;
        _generator = generator;
        double bound = 1 / Math.Sqrt(hiddenSize);
        // torch registers per layer: forward direction's four tensors, then the reverse direction's.
        for (int k = 0; k < numLayers; k++)
            for (int d = 0; d < Directions; d++)
            {
                int input = k == 0 ? inputSize : hiddenSize * Directions;
                string s = Suffix(k, d);
                Init.Uniform(RegisterParameter("weight_ih" + s, Tensor.Zeros(4 * hiddenSize, input)), -bound, bound, generator);
                Init.Uniform(RegisterParameter("weight_hh" + s, Tensor.Zeros(4 * hiddenSize, hiddenSize)), -bound, bound, generator);
                if (!bias) continue;
                Init.Uniform(RegisterParameter("bias_ih" + s, Tensor.Zeros(4 * hiddenSize)), -bound, bound, generator);
                Init.Uniform(RegisterParameter("bias_hh" + s, Tensor.Zeros(4 * hiddenSize)), -bound, bound, generator);
            }
    }

    static string Suffix(int layer, int direction) => direction == 0 ? $"_l{layer}" : $"_l{layer}_reverse";

    /// <summary>Features of the input.</summary>
    public int InputSize { get; }

    /// <summary>Width h of the hidden and cell states of one direction.</summary>
    public int HiddenSize { get; }

    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }

    /// <summary>True when the gates have biases.</summary>
    public bool HasBias { get; }

    /// <summary>True when inputs and outputs are [batch, time, features]; otherwise [time, batch, features].</summary>
    public bool BatchFirst { get; }

    /// <summary>Dropout probability on the outputs of every layer but the last, while training.</summary>
    public double DropoutP { get; }

    /// <summary>True when a second network reads the sequence backwards and its outputs are concatenated.</summary>
    public bool Bidirectional { get; }

    /// <summary>1, or 2 when bidirectional.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>The output sequence [.., .., directions · h] (torch's <c>output</c>), starting from zero states.</summary>
    public override Tensor Forward(Tensor input) => Run(input).Output;

    /// <summary>
    /// Runs the network on <paramref name="input"/> ([B, T, in] when <see cref="BatchFirst"/>, else [T, B, in]; or
    /// unbatched [T, in]) from the initial states <paramref name="h0"/> and <paramref name="c0"/>
    /// ([layers · directions, B, h], or [layers · directions, h] unbatched; null: zeros). Returns torch's
    /// (output, (h_n, c_n)): the last layer's hidden state at every step, and every layer and direction's final states.
    /// </summary>
    public (Tensor Output, Tensor HiddenState, Tensor CellState) Run(Tensor input, Tensor? h0 = null, Tensor? c0 = null)
    {
        bool unbatched = input.Rank == 2;
        if (input.Rank is not (2 or 3) || input.Size(-1) != InputSize)
            throw new ArgumentException($"Lstm: expects input [{(BatchFirst ? "batch, time" : "time, batch")}, {InputSize}] or [time, {InputSize}], got {Shapes.Format(input.Shape)}");
        // Time-major [T, B, in] inside.
        var x = unbatched ? input.Unsqueeze(1) : BatchFirst ? input.Transpose(0, 1) : input;
        int batch = x.Size(1), states = NumLayers * Directions;
        Tensor Initial(Tensor? given, string name)
        {
            if (given is null) return Tensor.Zeros([states, batch, HiddenSize], x.DType, x.Device);
            var t = unbatched ? given.Unsqueeze(1) : given;
            if (t.Rank != 3 || t.Size(0) != states || t.Size(1) != batch || t.Size(2) != HiddenSize)
                throw new ArgumentException($"Lstm: {name} must be [{states}, {batch}, {HiddenSize}]{(unbatched ? " without the batch axis" : "")}, got {Shapes.Format(given.Shape)}");
            return t;
        }
        var h = Initial(h0, "h0");
        var c = Initial(c0, "c0");

        var finalH = new Tensor[states];
        var finalC = new Tensor[states];
        for (int k = 0; k < NumLayers; k++)
        {
            if (k > 0 && Training && DropoutP > 0)
                x = x * Tensor.Bernoulli(x.Shape, 1 - DropoutP, x.DType, _generator, x.Device) * (1 / (1 - DropoutP));
            var outputs = new Tensor[Directions];
            for (int d = 0; d < Directions; d++)
            {
                int s = k * Directions + d;
                (outputs[d], finalH[s], finalC[s]) = Direction(x, Suffix(k, d), reverse: d == 1, h.Select(0, s), c.Select(0, s));
            }
            x = Directions == 1 ? outputs[0] : Tensor.Concat(outputs, 2);
        }
        var output = unbatched ? x.Select(1, 0) : BatchFirst ? x.Transpose(0, 1) : x;
        Tensor Finals(Tensor[] t) { var stacked = Tensor.Stack(t, 0); return unbatched ? stacked.Select(1, 0) : stacked; }
        return (output, Finals(finalH), Finals(finalC));
    }

    // One direction of one layer over x [T, B, in]: outputs [T, B, h] in the input's time order and the final states.
    (Tensor Output, Tensor H, Tensor C) Direction(Tensor x, string suffix, bool reverse, Tensor h, Tensor c)
    {
        int steps = x.Size(0), batch = x.Size(1), hidden = HiddenSize;
        var wih = GetParameter("weight_ih" + suffix);
        var whh = GetParameter("weight_hh" + suffix);
        // The input's share of the gates for every step at once: one product [T·B, in] × [in, 4h].
        var gx = x.Reshape(steps * batch, x.Size(2)).MatMul(wih.T);
        if (HasBias) gx = gx + (GetParameter("bias_ih" + suffix) + GetParameter("bias_hh" + suffix));
        gx = gx.Reshape(steps, batch, 4 * hidden);
        var outputs = new Tensor[steps];
        for (int i = 0; i < steps; i++)
        {
            int t = reverse ? steps - 1 - i : i;
            var gates = gx.Select(0, t) + h.MatMul(whh.T);
            var input = gates.Narrow(1, 0, hidden).Sigmoid();
            var forget = gates.Narrow(1, hidden, hidden).Sigmoid();
            var cell = gates.Narrow(1, 2 * hidden, hidden).Tanh();
            var output = gates.Narrow(1, 3 * hidden, hidden).Sigmoid();
            c = forget * c + input * cell;
            h = output * c.Tanh();
            outputs[t] = h;
        }
        return (Tensor.Stack(outputs, 0), h, c);
    }
}

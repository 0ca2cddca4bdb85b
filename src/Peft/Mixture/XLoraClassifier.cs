namespace Engine.Peft.Mixture;

/// <summary>
/// X-LoRA's classifier (PEFT's <c>xlora/classifier.py</c>): the last hidden state [B, T, H] through Linear(H → n or
/// n·L) at depth 1, else (Linear, ReLU, Dropout when p &gt; 0) blocks of width xlora_size and the output Linear; the
/// logits become scalings [B, T, L, n] (repeated over the L layers unless layerwise), softmaxed over the n experts at
/// temperature τ when enable_softmax. Files hold PEFT's keys
/// <c>base_model.internal_xlora_classifier.layers.&lt;i&gt;.{weight,bias}</c>, whose Sequential index i counts the
/// ReLU and Dropout modules too.
/// </summary>
public sealed class XLoraClassifier : Module
{
    /// <summary>The file key prefix of the classifier's tensors.</summary>
    public const string KeyPrefix = "base_model.internal_xlora_classifier.layers.";

    readonly int _experts, _layers;

    /// <summary>A classifier for <paramref name="experts"/> experts on <paramref name="layers"/> LoRA layers, nn.Linear's initialisation.</summary>
    public XLoraClassifier(XLoraConfig c, int hidden, int experts, int layers, DType dtype, Generator generator)
    {
        _experts = experts;
        _layers = layers;
        var linears = Shapes(c, hidden, experts, layers).Select(s => new Linear(s.In, s.Out, bias: true, generator)).ToList();
        foreach (var l in linears) l.To(dtype);
        RegisterModule("linears", new ModuleList<Linear>(linears));
        RegisterModule("dropout", new Dropout(c.XloraDepth > 1 ? c.XloraDropoutP : 0, generator));
        _fileIndex = FileIndices(c).ToArray();
    }

    readonly int[] _fileIndex;

    ModuleList<Linear> Linears => (ModuleList<Linear>)Child("linears");

    /// <summary>The Linear layers' (in, out) widths in order.</summary>
    public static List<(int In, int Out)> Shapes(XLoraConfig c, int hidden, int experts, int layers)
    {
        int outputs = c.LayerwiseScalings ? experts * layers : experts;
        if (c.XloraDepth == 1) return [(hidden, outputs)];
        var shapes = new List<(int, int)> { (hidden, c.XloraSize) };
        for (int i = 0; i < c.XloraDepth - 2; i++) shapes.Add((c.XloraSize, c.XloraSize));
        shapes.Add((c.XloraSize, outputs));
        return shapes;
    }

    // nn.Sequential's index of each Linear: every hidden block is Linear, ReLU and (when p > 0) Dropout.
    static IEnumerable<int> FileIndices(XLoraConfig c)
    {
        int stride = c.XloraDropoutP > 0 ? 3 : 2;
        for (int j = 0; j < c.XloraDepth; j++) yield return c.XloraDepth == 1 ? 0 : j * stride;
    }

    /// <summary>The classifier's tensors under their file keys, with their shapes, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(XLoraConfig c, int hidden, int experts, int layers) =>
        Shapes(c, hidden, experts, layers).Zip(FileIndices(c)).SelectMany(s => new PlannedTensor[]
            { new($"{KeyPrefix}{s.Second}.weight", [s.First.Out, s.First.In]), new($"{KeyPrefix}{s.Second}.bias", [s.First.Out]) });

    /// <summary>The classifier's tensors under their file keys (all trainable).</summary>
    public IEnumerable<SharedTensor> Tensors()
    {
        var linears = Linears;
        for (int j = 0; j < linears.Count; j++)
        {
            yield return new($"{KeyPrefix}{_fileIndex[j]}.weight", linears[j].Weight, true, true);
            yield return new($"{KeyPrefix}{_fileIndex[j]}.bias", linears[j].Bias!, true, true);
        }
    }

    /// <summary>The logits [B, T, n or n·L] for the last hidden state [B, T, H].</summary>
    public override Tensor Forward(Tensor hidden)
    {
        var linears = Linears;
        var x = hidden;
        for (int j = 0; j < linears.Count - 1; j++) x = Child("dropout").Forward(linears[j].Forward(x).Relu());
        return linears[linears.Count - 1].Forward(x);
    }

    /// <summary>The scalings [B, T, L, n] for the last hidden state [B, T, H] (PEFT's XLoraClassifier.forward).</summary>
    public Tensor Scalings(Tensor hidden, XLoraConfig c)
    {
        var logits = Forward(hidden);
        int b = hidden.Size(0), t = hidden.Size(1);
        var scalings = c.LayerwiseScalings ? logits.Reshape(b, t, _layers, _experts) : logits.Unsqueeze(2).Expand(b, t, _layers, _experts);
        return c.EnableSoftmax ? (scalings / c.SoftmaxTemperature).Softmax(-1) : scalings;
    }
}

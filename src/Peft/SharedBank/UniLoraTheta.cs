namespace Engine.Peft.SharedBank;

/// <summary>
/// UniLoRA's shared trainable vector θ [D] (<c>base_model.unilora_theta_d</c>) and its index assignment (PEFT's
/// <c>generate_index</c>): over all adapted layers in order, A then B of each, the P = Σ numel entries get each of
/// 0..D-1 ⌊P/D⌋ times plus P mod D distinct extra values, shuffled; an entry reading θ_j is scaled by
/// 1/√count(j), so every θ_j's squared scales sum to one. When saving it sets <c>save_indices</c>: the engine's
/// files always hold the indices and scales.
/// </summary>
public sealed class UniLoraTheta : AdapterModelPart, ISharedTensorOwner, ISaveTransform
{
    /// <summary>The file key of θ.</summary>
    public const string Key = "base_model.unilora_theta_d";

    readonly Dictionary<string, (long[] A, long[] B)> _indices = new(StringComparer.Ordinal);
    readonly double[] _scale;

    /// <summary>Creates θ and the assignment for the adapter's targets.</summary>
    public UniLoraTheta(AdapterModelPartContext context) : base(context)
    {
        var c = (UniLoraConfig)context.Config;
        var linears = context.Targets.Select(t => (t.Path, Linear: t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module)).ToList();
        var dtype = linears.FirstOrDefault().Linear?.Weight.DType ?? DType.Float32;
        var generator = context.CreateGenerator();
        RegisterParameter("unilora_theta_d", c.InitWeights
            ? Tensor.Rand([c.ThetaDLength], -c.InitThetaDBound, c.InitThetaDBound, dtype, generator)
            : Tensor.Randn([c.ThetaDLength], 0, 1, dtype, generator));

        long total = linears.Sum(t => (long)c.R * t.Linear.InFeatures + (long)t.Linear.OutFeatures * c.R);
        var assignment = Assign(total, c.ThetaDLength, new Generator(c.ProjSeed));
        int at = 0;
        foreach (var (path, linear) in linears)
        {
            int a = c.R * linear.InFeatures, b = linear.OutFeatures * c.R;
            _indices[path.Engine] = (assignment[at..(at + a)], assignment[(at + a)..(at + a + b)]);
            at += a + b;
        }
        var counts = new long[c.ThetaDLength];
        foreach (var j in assignment) counts[j]++;
        _scale = counts.Select(n => n > 0 ? 1 / Math.Sqrt(n) : 0).ToArray();
    }

    /// <summary>
    /// The balanced assignment of <paramref name="total"/> entries to 0..<paramref name="length"/>-1: each value
    /// ⌊total/length⌋ times, total mod length distinct values once more, in a random order.
    /// </summary>
    public static long[] Assign(long total, int length, Generator generator)
    {
        if (total > Array.MaxLength) throw new ArgumentException($"UniLoRA: {total} adapter entries are more than one array holds");
        long each = total / length;
        int extra = (int)(total % length);
        var values = new long[total];
        for (long i = 0; i < each * length; i++) values[i] = i / each;
        var extras = Permutation(length, generator);
        for (int i = 0; i < extra; i++) values[each * length + i] = extras[i];
        var order = Permutation((int)total, generator);
        return order.Select(i => values[i]).ToArray();
    }

    // A uniformly random permutation of 0..n-1: the order of n uniform keys.
    static int[] Permutation(int n, Generator generator)
    {
        var keys = Tensor.Rand([n], 0, 1, DType.Float64, generator).ToArray<double>();
        var order = Enumerable.Range(0, n).ToArray();
        Array.Sort(keys, order);
        return order;
    }

    /// <summary>θ under its file key, without creating it.</summary>
    public static IEnumerable<PlannedTensor> Plan(UniLoraConfig c) => [new(Key, [c.ThetaDLength])];

    /// <summary>θ [D].</summary>
    public Tensor Theta => NamedParameters().First(p => p.Name == "unilora_theta_d").Parameter;

    /// <summary>The indices of the layer at <paramref name="path"/> (A [r·in], B [out·r], flat) and their scales.</summary>
    public (long[] A, long[] B, double[] ScaleA, double[] ScaleB) Assignment(ModulePath path)
    {
        var (a, b) = _indices[path.Engine];
        return (a, b, a.Select(j => _scale[j]).ToArray(), b.Select(j => _scale[j]).ToArray());
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => [new(Key, Theta, true, true)];

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora) =>
        config is UniLoraConfig c ? (c with { SaveIndices = true }, tensors) : (config, tensors);
}

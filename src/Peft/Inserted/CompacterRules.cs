namespace Engine.Peft.Inserted;

/// <summary>
/// Compacter's rule matrices A [n, n, n], one tensor per adapter shared by every adapter layer of the model (the
/// reference's <c>init_shared_parameters</c> with <c>shared_phm_rule</c>): N(0, phm_init_range²) or U(-1, 1), trained
/// unless <c>learn_phm</c> is false. Saved once, under <c>base_model.phm_rule</c>.
/// </summary>
public sealed class CompacterRules : AdapterModelPart, ISharedTensorOwner
{
    /// <summary>The file key of the rules.</summary>
    public const string Key = "base_model.phm_rule";

    /// <summary>Creates the rules.</summary>
    public CompacterRules(AdapterModelPartContext context) : base(context)
    {
        var c = (CompacterConfig)context.Config;
        var dtype = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module).FirstOrDefault()?.Weight.DType ?? DType.Float32;
        int n = c.PhmDim;
        var g = context.CreateGenerator();
        var rules = c.PhmCInit == "normal" ? Tensor.Randn([n, n, n], 0, c.PhmInitRange, dtype, g) : Tensor.Rand([n, n, n], -1, 1, dtype, g);
        if (c.LearnPhm) RegisterParameter("phm_rule", rules);
        else RegisterBuffer("phm_rule", rules);
    }

    /// <summary>The rules [n, n, n] under their file key, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(CompacterConfig c) => [new(Key, [c.PhmDim, c.PhmDim, c.PhmDim])];

    /// <summary>The shared rules A [n, n, n] (the registry's current tensor).</summary>
    public Tensor Rules => NamedParameters().Select(p => p.Parameter).Concat(NamedBuffers().Select(b => b.Buffer)).First();

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => [new(Key, Rules, true, ((CompacterConfig)Config).LearnPhm)];
}

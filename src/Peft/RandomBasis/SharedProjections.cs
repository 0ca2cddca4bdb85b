namespace Engine.Peft.RandomBasis;

/// <summary>
/// A pair of frozen matrices A and B created once per adapter on the model and shared by all its layers (VeRA,
/// RandLoRA). PEFT keeps them on the tuner as <c>base_model.&lt;prefix&gt;_A</c> / <c>_B</c> (the adapter name stripped in
/// files) and writes them only when <c>save_projection</c> is set.
/// </summary>
public abstract class SharedProjections : AdapterModelPart, ISharedTensorOwner
{
    readonly string _prefix;
    readonly bool _saved;

    /// <summary>Registers <paramref name="a"/> and <paramref name="b"/> as the buffers <c>&lt;prefix&gt;_A</c> and <c>&lt;prefix&gt;_B</c>.</summary>
    protected SharedProjections(AdapterModelPartContext context, string prefix, bool saved, Tensor a, Tensor b) : base(context)
    {
        _prefix = prefix;
        _saved = saved;
        RegisterBuffer(prefix + "_A", a);
        RegisterBuffer(prefix + "_B", b);
    }

    /// <summary>The shared A.</summary>
    public Tensor A => Buffer(_prefix + "_A");

    /// <summary>The shared B.</summary>
    public Tensor B => Buffer(_prefix + "_B");

    Tensor Buffer(string name) => NamedBuffers().First(b => b.Name == name).Buffer;

    /// <summary>The file keys and shapes of A and B, for a method's plan.</summary>
    protected static IEnumerable<PlannedTensor> Plan(string prefix, int[] aShape, int[] bShape) =>
        [new("base_model." + prefix + "_A", aShape), new("base_model." + prefix + "_B", bShape)];

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        yield return new("base_model." + _prefix + "_A", A, _saved, false);
        yield return new("base_model." + _prefix + "_B", B, _saved, false);
    }
}

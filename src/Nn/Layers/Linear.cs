
namespace Engine.Nn;

/// <summary>y = x W^T + b with W [out, in], as torch.nn.Linear (same initialisation: Kaiming-uniform with a = sqrt 5).</summary>
public sealed class Linear : Module
{
    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/>.</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Generator? generator = null)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Init.KaimingUniform(RegisterParameter("weight", Tensor.Zeros(outFeatures, inFeatures)), Math.Sqrt(5), generator: generator);
        if (bias)
        {
            double bound = inFeatures > 0 ? 1 / Math.Sqrt(inFeatures) : 0;
            Init.Uniform(RegisterParameter("bias", Tensor.Zeros(outFeatures)), -bound, bound, generator);
        }
    }

    // A head that reuses another module's weight tensor (a tied output head): nothing is drawn, no bias.
    Linear(Tensor sharedWeight)
    {
        OutFeatures = sharedWeight.Size(0);
        InFeatures = sharedWeight.Size(1);
        RegisterParameter("weight", sharedWeight);
        SharesWeight = true;
    }

    /// <summary>
    /// A bias-free layer whose weight IS <paramref name="weight"/> [out, in] (the same tensor, not a copy): GPT-2's
    /// output head tied to its token embedding, shown as a module so adapters can wrap it.
    /// </summary>
    public static Linear Sharing(Tensor weight) =>
        weight.Rank == 2 ? new Linear(weight) : throw new ArgumentException($"Linear.Sharing: expects a weight [out, in], got {Shapes.Format(weight.Shape)}");

    /// <summary>True when the weight is another module's tensor (<see cref="Sharing"/>): changing it changes that module too.</summary>
    public bool SharesWeight { get; }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>[out, in].</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>[out], or null without bias.</summary>
    public Tensor? Bias => FindParameter("bias");

    public override Tensor Forward(Tensor input) => Product(Rows(input)).Reshape(OutputShape(input));

    // Addmm places the bias in the output and accumulates the product onto it: one pass, as torch's linear.
    Tensor Product(Tensor rows) => Bias is null ? rows.MatMul(Weight.T) : Tensor.Addmm(Bias, rows, Weight.T);

    /// <summary>
    /// GELU (erf) of <see cref="Forward"/>: for inference on the CPU the activation is applied to each tile of the
    /// product while it is in cache (no second pass over the output); otherwise the two ops in turn, same values.
    /// </summary>
    public Tensor ForwardGelu(Tensor input)
    {
        var rows = Rows(input);
        var y = Bias is not null && Tensor.TryAddmmGelu(Bias, rows, Weight.T, out var fused) ? fused : Product(rows).Gelu();
        return y.Reshape(OutputShape(input));
    }

    // Leading dimensions flattened so the product is one GEMM and W's gradient one GEMM, not one per batch entry.
    Tensor Rows(Tensor input)
    {
        if (input.Size(-1) != InFeatures)
            throw new ArgumentException($"Linear: input {Shapes.Format(input.Shape)} has {input.Size(-1)} features, the layer expects {InFeatures}");
        return input.Reshape(-1, InFeatures);
    }

    int[] OutputShape(Tensor input)
    {
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        return shape;
    }
}

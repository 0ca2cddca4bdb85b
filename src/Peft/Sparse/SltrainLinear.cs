namespace Engine.Peft.Sparse;

/// <summary>
/// The reference's <c>SpLoRaLinear</c> (andyjm3/SLTrain <c>splora/splora_linear.py</c>; arXiv 2406.02214): a linear layer
/// whose weight is never stored, only its parameterisation W = B·(s·A) + S with S = values at the fixed support Ω
/// (<see cref="SparseDelta"/>); y = x Wᵀ + b. Initialisation as the reference: A kaiming(√5), B = 0, values
/// U(±1/√in), bias U(±1/√out). <c>engine train --sltrain</c> puts these in place of a fresh GPT's Linears
/// (<see cref="SltrainModel.Reparameterise"/>), so the model holds r·(in + out) + |Ω| (+ out) numbers per layer
/// instead of in·out (+ out); the forward is the reference's fused op (<see cref="SltrainFunction"/>), which keeps no
/// dense W between the passes. Tensor names match the adapter layer's file keys (<see cref="SltrainLayer"/>).
/// </summary>
public sealed class SltrainLinear : Module
{
    readonly double _scale;
    readonly bool _trainableScaling;

    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/> with <paramref name="config"/>'s r, α, δ and scaling.</summary>
    public SltrainLinear(int inFeatures, int outFeatures, bool bias, SltrainConfig config, Generator generator, string where = "SltrainLinear")
    {
        config.Validate();
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _scale = config.LoraAlpha / config.R;
        _trainableScaling = config.TrainableScaling;
        int k = SltrainSupport.Count(outFeatures, inFeatures, config.SpRatio, where);
        // The reference's order: bias, A, B, scaling, then Ω and its values.
        if (bias) RegisterParameter("sltrain_bias", Tensor.Rand([outFeatures], -1 / Math.Sqrt(outFeatures), 1 / Math.Sqrt(outFeatures), DType.Float32, generator));
        RegisterParameter("sltrain_A", KaimingInit.Uniform(config.R, inFeatures, DType.Float32, generator));
        RegisterParameter("sltrain_B", Tensor.Zeros([outFeatures, config.R]));
        if (_trainableScaling) RegisterParameter("sltrain_scaling", Tensor.Ones([1]));
        var support = SltrainSupport.Draw(outFeatures, inFeatures, k, generator);
        RegisterBuffer("sltrain_index", Tensor.FromArray(support, [k]));
        RegisterParameter("sltrain_value", Tensor.Rand([k], -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures), DType.Float32, generator));
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }

    /// <summary>Output features.</summary>
    public int OutFeatures { get; }

    /// <summary>A [r, in].</summary>
    public Tensor A => GetParameter("sltrain_A");

    /// <summary>B [out, r].</summary>
    public Tensor B => GetParameter("sltrain_B");

    /// <summary>The values of S at Ω [k].</summary>
    public Tensor Values => GetParameter("sltrain_value");

    /// <summary>Ω: sorted flat row-major positions [k] (Int64, frozen).</summary>
    public Tensor Support => NamedBuffers().First(b => b.Name == "sltrain_index").Buffer;

    /// <summary>b [out], or null.</summary>
    public Tensor? Bias => FindParameter("sltrain_bias");

    /// <summary>s·A [r, in]: s = α / r, or tanh θ with trainable scaling.</summary>
    public Tensor ScaledA() => _trainableScaling ? A * GetParameter("sltrain_scaling").Tanh() : A * _scale;

    /// <summary>W = B·(s·A) + S [out, in], differentiable in A, B, the values (and θ).</summary>
    public Tensor Weight() => Dense(B, ScaledA(), Values, Support);

    /// <summary>B·A′ + S for A′ = s·A already scaled: the one formula of the module and of <see cref="SltrainLayer"/>.</summary>
    public static Tensor Dense(Tensor b, Tensor scaledA, Tensor values, Tensor support) =>
        b % scaledA + SparseDelta.Dense(values, support, b.Size(0), scaledA.Size(1));

    /// <summary>y = x Wᵀ + b for x [..., in].</summary>
    public override Tensor Forward(Tensor input)
    {
        if (input.Size(-1) != InFeatures)
            throw new ArgumentException($"SltrainLinear: input {Shapes.Format(input.Shape)} has {input.Size(-1)} features, the layer expects {InFeatures}");
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        return SltrainFunction.Linear(input.Reshape(-1, InFeatures), B, ScaledA(), Values, Support, Bias).Reshape(shape);
    }
}

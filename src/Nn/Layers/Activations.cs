namespace Engine.Nn;

/// <summary>GELU as a module: exact (erf) or the tanh approximation (GPT-2's gelu_new).</summary>
public sealed class GELU(bool tanhApproximation = false) : Module
{
    public bool TanhApproximation { get; } = tanhApproximation;
    public override Tensor Forward(Tensor x) => x.Gelu(TanhApproximation);
}

/// <summary>SiLU (swish) as a module: x * sigmoid(x).</summary>
public sealed class SiLU : Module
{
    public override Tensor Forward(Tensor x) => x.Silu();
}

/// <summary>ReLU as a module.</summary>
public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor x) => x.Relu();
}

/// <summary>Tanh as a module.</summary>
public sealed class Tanh : Module
{
    public override Tensor Forward(Tensor x) => x.Tanh();
}

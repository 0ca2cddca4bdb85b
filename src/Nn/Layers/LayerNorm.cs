namespace Engine.Nn;

/// <summary>Normalises the last dimension to zero mean and unit variance, then scales and shifts (Ba et al. 2016).</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(int dim, double eps = 1e-5)
    {
        Eps = eps;
        RegisterParameter("weight", Tensor.Ones(dim));
        RegisterParameter("bias", Tensor.Zeros(dim));
    }

    public double Eps { get; }
    public Tensor Weight => GetParameter("weight");
    public Tensor Bias => GetParameter("bias");

    public override Tensor Forward(Tensor x) => x.LayerNorm(Weight, Bias, Eps);
}

/// <summary>Root-mean-square normalisation of the last dimension with a learned scale (Zhang and Sennrich 2019).</summary>
public sealed class RMSNorm : Module
{
    public RMSNorm(int dim, double eps = 1e-6)
    {
        Eps = eps;
        RegisterParameter("weight", Tensor.Ones(dim));
    }

    public double Eps { get; }
    public Tensor Weight => GetParameter("weight");

    public override Tensor Forward(Tensor x) => x * (x.Square().Mean(-1, keepDim: true) + Eps).Rsqrt() * Weight;
}

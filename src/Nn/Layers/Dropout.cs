
namespace Engine.Nn;

/// <summary>Zeroes each element with probability p during training and scales the rest by 1/(1-p); identity in eval mode.</summary>
public sealed class Dropout : Module
{
    readonly Generator? _generator;

    public Dropout(double p, Generator? generator = null)
    {
        if (p < 0 || p >= 1) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: probability must be in [0, 1), got {p}");
        P = p;
        _generator = generator;
    }

    public double P { get; }

    public override Tensor Forward(Tensor x)
    {
        if (!Training || P == 0) return x;
        var keep = Tensor.Bernoulli(x.Shape, 1 - P, x.DType, _generator, x.Device);
        return x * keep * (1 / (1 - P));
    }
}

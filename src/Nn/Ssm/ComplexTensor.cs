namespace Engine.Nn;

/// <summary>
/// A complex tensor held as two real tensors of the same shape (real, imaginary), so complex arithmetic is built from
/// differentiable real ops. Converts to and from the engine's FFT layout, a trailing dimension of size 2.
/// </summary>
internal readonly record struct ComplexTensor(Tensor Re, Tensor Im)
{
    /// <summary>Splits a tensor [..., 2] (real, imaginary) into its two parts.</summary>
    public static ComplexTensor FromPairs(Tensor pairs) => new(pairs.Select(-1, 0), pairs.Select(-1, 1));

    /// <summary>The tensor [..., 2] (real, imaginary) that the FFT ops take.</summary>
    public Tensor ToPairs() => Tensor.Stack([Re, Im], -1);

    public static ComplexTensor operator +(ComplexTensor a, ComplexTensor b) => new(a.Re + b.Re, a.Im + b.Im);
    public static ComplexTensor operator -(ComplexTensor a, ComplexTensor b) => new(a.Re - b.Re, a.Im - b.Im);
    public static ComplexTensor operator +(ComplexTensor a, double b) => new(a.Re + b, a.Im);
    public static ComplexTensor operator -(double a, ComplexTensor b) => new(a - b.Re, -b.Im);
    public static ComplexTensor operator *(ComplexTensor a, double b) => new(a.Re * b, a.Im * b);

    /// <summary>A complex times a real tensor (broadcasting).</summary>
    public static ComplexTensor operator *(ComplexTensor a, Tensor b) => new(a.Re * b, a.Im * b);

    public static ComplexTensor operator *(ComplexTensor a, ComplexTensor b) =>
        new(a.Re * b.Re - a.Im * b.Im, a.Re * b.Im + a.Im * b.Re);

    /// <summary>a / b = a conj(b) / |b|^2.</summary>
    public static ComplexTensor operator /(ComplexTensor a, ComplexTensor b)
    {
        var norm = b.Re * b.Re + b.Im * b.Im;
        return new((a.Re * b.Re + a.Im * b.Im) / norm, (a.Im * b.Re - a.Re * b.Im) / norm);
    }

    /// <summary>exp(a + ib) = e^a (cos b + i sin b).</summary>
    public ComplexTensor Exp()
    {
        var magnitude = Re.Exp();
        return new(magnitude * Im.Cos(), magnitude * Im.Sin());
    }

    /// <summary>Both parts unsqueezed at <paramref name="dim"/>.</summary>
    public ComplexTensor Unsqueeze(int dim) => new(Re.Unsqueeze(dim), Im.Unsqueeze(dim));

    /// <summary>Both parts narrowed along <paramref name="dim"/>.</summary>
    public ComplexTensor Narrow(int dim, int start, int length) => new(Re.Narrow(dim, start, length), Im.Narrow(dim, start, length));

    /// <summary>Both parts concatenated with <paramref name="other"/>'s along <paramref name="dim"/>.</summary>
    public ComplexTensor Concat(ComplexTensor other, int dim) =>
        new(Tensor.Concat([Re, other.Re], dim), Tensor.Concat([Im, other.Im], dim));
}

namespace Engine.Nn;

/// <summary>
/// Draws from the Gamma(shape, 1) and Dirichlet distributions with the engine's <see cref="Generator"/>:
/// Marsaglia and Tsang's method (2000, "A simple method for generating gamma variables") for shape ≥ 1, and for
/// shape &lt; 1 their boost Gamma(a) = Gamma(a + 1) · U^{1/a}. A Dirichlet(α) vector is independent Gamma(α_i) draws
/// divided by their sum. Normal and uniform variates come in blocks from <see cref="Tensor.Randn"/> and
/// <see cref="Tensor.Rand"/>, so a seed gives the same draws on every machine.
/// </summary>
public sealed class GammaSampling
{
    const int Block = 256;
    readonly Generator _generator;
    double[] _normals = [], _uniforms = [];
    int _nextNormal, _nextUniform;

    /// <summary>A sampler drawing its variates from <paramref name="generator"/>.</summary>
    public GammaSampling(Generator generator) => _generator = generator;

    /// <summary>One draw of Gamma(<paramref name="shape"/>, 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The shape is not positive and finite.</exception>
    public double Gamma(double shape)
    {
        if (!(shape > 0) || !double.IsFinite(shape)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "GammaSampling: the shape must be positive and finite");
        if (shape < 1)
        {
            // U^{1/a} can underflow to 0 for tiny shapes; Dirichlet then renormalises the others.
            double boost = Math.Pow(Uniform(), 1 / shape);
            return Gamma(shape + 1) * boost;
        }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x = Normal(), v = 1 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            double u = Uniform();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>One draw of Dirichlet(<paramref name="alpha"/>): non-negative, summing to 1.</summary>
    /// <exception cref="ArgumentException">No concentrations.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A concentration that is not positive and finite.</exception>
    public double[] Dirichlet(IReadOnlyList<double> alpha)
    {
        if (alpha.Count == 0) throw new ArgumentException("GammaSampling.Dirichlet: no concentrations");
        var draws = alpha.Select(Gamma).ToArray();
        double sum = draws.Sum();
        if (sum == 0)
        {
            // Every boosted draw underflowed (all α tiny): as α → 0 the mass goes to one coordinate; pick it uniformly.
            var one = new double[alpha.Count];
            one[(int)Math.Min(alpha.Count - 1, Math.Floor(Uniform() * alpha.Count))] = 1;
            return one;
        }
        return draws.Select(g => g / sum).ToArray();
    }

    double Normal()
    {
        if (_nextNormal == _normals.Length) (_normals, _nextNormal) = (Tensor.Randn([Block], dtype: DType.Float64, generator: _generator).ToArray<double>(), 0);
        return _normals[_nextNormal++];
    }

    // In (0, 1): a 0 from the uniform generator would make log u = −∞ (harmless) and 0^{1/a} = 0; both are kept finite.
    double Uniform()
    {
        if (_nextUniform == _uniforms.Length) (_uniforms, _nextUniform) = (Tensor.Rand([Block], dtype: DType.Float64, generator: _generator).ToArray<double>(), 0);
        return Math.Max(_uniforms[_nextUniform++], double.Epsilon);
    }
}

namespace Engine.Peft.Subspace;

/// <summary>
/// Hugging Face's activation names (transformers' <c>ACT2FN</c>, which PEANuT's <c>act_fn</c> names) as engine ops.
/// Activations with parameters of their own (<c>prelu</c>, <c>xielu</c>) are not supported.
/// <code>var act = HfActivation.Get("gelu_new"); var y = act(x);</code>
/// </summary>
public static class HfActivation
{
    static readonly Dictionary<string, Func<Tensor, Tensor>> Table = new(StringComparer.Ordinal)
    {
        ["relu"] = x => x.Relu(),
        ["relu2"] = x => x.Relu().Square(),
        ["relu6"] = x => x.Clamp(0, 6),
        ["leaky_relu"] = x => x.Relu() - (-x).Relu() * 0.01, // nn.LeakyReLU's default slope
        ["gelu"] = x => x.Gelu(),
        ["gelu_python"] = x => x.Gelu(),
        ["gelu_10"] = x => x.Gelu().Clamp(-10, 10),
        // gelu_new, gelu_fast, gelu_accurate and gelu_pytorch_tanh all compute 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
        ["gelu_new"] = x => x.Gelu(tanhApproximation: true),
        ["gelu_fast"] = x => x.Gelu(tanhApproximation: true),
        ["gelu_accurate"] = x => x.Gelu(tanhApproximation: true),
        ["gelu_pytorch_tanh"] = x => x.Gelu(tanhApproximation: true),
        ["quick_gelu"] = x => x * (x * 1.702).Sigmoid(),
        ["silu"] = x => x.Silu(),
        ["swish"] = x => x.Silu(),
        ["mish"] = x => x * x.Softplus().Tanh(),
        ["sigmoid"] = x => x.Sigmoid(),
        ["tanh"] = x => x.Tanh(),
        ["linear"] = x => x,
        // LaplaceActivation: 0.5 (1 + erf((x - mu) / (sigma sqrt 2))), mu = 0.707107, sigma = 0.282095.
        ["laplace"] = x => ((x - 0.707107) * (1 / (0.282095 * Math.Sqrt(2)))).Erf() * 0.5 + 0.5,
    };

    /// <summary>The names this class knows.</summary>
    public static IReadOnlyCollection<string> Names => Table.Keys;

    /// <summary>The activation named <paramref name="name"/>.</summary>
    /// <exception cref="NotSupportedException">The name is not one of <see cref="Names"/>.</exception>
    public static Func<Tensor, Tensor> Get(string name) => Table.TryGetValue(name, out var f) ? f
        : throw new NotSupportedException($"HfActivation: '{name}' is not a supported activation; supported: {string.Join(", ", Table.Keys.Order(StringComparer.Ordinal))}");
}

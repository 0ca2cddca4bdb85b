namespace Engine.Nn;

/// <summary>
/// A LayerNorm mixed over embedding widths: Σ_e w_e · pad0(LayerNorm(x[..., :e]; γ[:e], β[:e])), one γ and β of the
/// maximum width shared (entangled) by all widths. Normalisation statistics depend on e, so unlike a linear layer it
/// cannot be folded into one op; each width costs one cheap normalisation (as an excerpt of the reference's
/// <c>MixedLayerNormV2</c> slices γ, β per width; spec §6).
/// </summary>
public sealed class MixedLayerNorm : Module
{
    readonly int[] _widths;

    /// <summary>A LayerNorm over the widths <paramref name="widths"/>.</summary>
    public MixedLayerNorm(int[] widths, double eps = 1e-5)
    {
        _widths = widths.ToArray();
        Eps = eps;
        int max = widths.Max();
        RegisterParameter("weight", Tensor.Ones(max));
        RegisterParameter("bias", Tensor.Zeros(max));
    }

    /// <summary>Epsilon of the variance.</summary>
    public double Eps { get; }

    /// <summary>The shared scale γ [E_max].</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>The shared shift β [E_max].</summary>
    public Tensor Bias => GetParameter("bias");

    /// <summary>x [..., E_max] mixed by width weights <paramref name="w"/> [|E|]; exact-zero constant weights are skipped.</summary>
    public Tensor Forward(Tensor x, Tensor w)
    {
        int max = _widths.Max();
        if (x.Size(-1) != max) throw new ArgumentException($"MixedLayerNorm: expects [..., {max}], got {Shapes.Format(x.Shape)}");
        var values = ArchitectureWeights.ConstantValues(w);
        Tensor? mixed = null;
        for (int i = 0; i < _widths.Length; i++)
        {
            if (values is not null && values[i] == 0) continue;
            int e = _widths[i];
            var y = x.Narrow(-1, 0, e).LayerNorm(Weight.Narrow(0, 0, e), Bias.Narrow(0, 0, e), Eps);
            if (e < max) y = y.Pad([0, max - e]);
            var term = y * w.Narrow(0, i, 1);
            mixed = mixed is null ? term : mixed + term;
        }
        return mixed!;
    }
}

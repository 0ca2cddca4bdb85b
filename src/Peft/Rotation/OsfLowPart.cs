namespace Engine.Peft.Rotation;

/// <summary>
/// The trainable low part of one OSF adapter (PEFT's <c>osf_svd_params[adapter]</c>, an nn.ParameterDict): U_low
/// [out, n], S_low [n], V_low [n, in], n = min(out, in) − effective_rank, so the keys are
/// <c>osf_svd_params.U_low</c>, <c>.S_low</c>, <c>.V_low</c>.
/// </summary>
public sealed class OsfLowPart : Module
{
    /// <summary>Registers the three tensors (taken as they are).</summary>
    public OsfLowPart(Tensor u, Tensor s, Tensor v)
    {
        RegisterParameter("U_low", u);
        RegisterParameter("S_low", s);
        RegisterParameter("V_low", v);
    }

    /// <summary>U_low [out, n].</summary>
    public Tensor U => GetParameter("U_low");

    /// <summary>S_low [n].</summary>
    public Tensor S => GetParameter("S_low");

    /// <summary>V_low [n, in].</summary>
    public Tensor V => GetParameter("V_low");
}

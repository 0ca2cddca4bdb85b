using Engine.Recording;

namespace Engine.Autograd;

/// <summary>Derivatives of the real FFT pair.</summary>
static class SpectralRules
{
    public static void Register(Dictionary<OpKind, DerivativeRule> rules)
    {
        // Filled in with the FFT ops.
    }
}

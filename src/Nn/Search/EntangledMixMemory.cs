namespace Engine.Nn;

/// <summary>
/// Analytic float counts of the mixed linear layers of a <see cref="GptSupernet"/> for one forward pass over
/// <c>tokens</c> rows (spec §6's "peak memory of the entangled mix vs a |C|-way DARTS mix"):
/// <list type="bullet">
/// <item>entangled: the shared W and b, the mixed W̄ and b̄, and one output [tokens, out_max]:
/// 2·(out_max·in_max + out_max) + tokens·out_max per layer;</item>
/// <item>|C|-way DARTS: a separate weight and bias per choice, each choice's output, and their mixed sum:
/// Σ_c (out_c·in_c + out_c + tokens·out_c) + tokens·out_max per layer.</item>
/// </list>
/// Inputs, the attention core and LayerNorms are the same for both and are left out.
/// </summary>
public static class EntangledMixMemory
{
    /// <summary>(entangled, DARTS) floats summed over every <see cref="EntangledLinear"/> of <paramref name="supernet"/>.</summary>
    public static (long Entangled, long Darts) Floats(GptSupernet supernet, long tokens)
    {
        long entangled = 0, darts = 0;
        foreach (var (_, m) in supernet.NamedModules())
        {
            if (m is not EntangledLinear l) continue;
            entangled += 2L * (l.OutMax * l.InMax + l.OutMax) + tokens * l.OutMax;
            darts += l.Choices.Sum(c => (long)c.Out * c.In + c.Out + tokens * c.Out) + tokens * l.OutMax;
        }
        return (entangled, darts);
    }
}

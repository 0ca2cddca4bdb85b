namespace Engine.Nn;

/// <summary>
/// A SpaceTime encoder block: x + MLP(CompanionSsm(preprocess(x))), the SSM with its skip D u, the preprocessing a
/// fixed <see cref="DifferencingSsm"/> (first block) or none. Sub-modules <c>preprocess</c> (optional), <c>ssm</c>,
/// <c>mlp</c>. [B, L, W] to [B, L, W], causal.
/// </summary>
public sealed class SpaceTimeBlock : Module
{
    /// <summary>A block of width <paramref name="width"/> with companion kernels of state size <paramref name="stateSize"/>.</summary>
    public SpaceTimeBlock(int width, int stateSize, int mlpRatio = 2, bool differencing = false, bool normalizeA = true, Generator? generator = null)
    {
        if (differencing) RegisterModule("preprocess", new DifferencingSsm(width));
        RegisterModule("ssm", new CompanionSsm(width, stateSize, skip: true, normalizeA: normalizeA, generator: generator));
        RegisterModule("mlp", new Mlp(width, mlpRatio * width, new GELU(), generator: generator));
    }

    /// <summary>The companion SSM.</summary>
    public CompanionSsm Ssm => Unwrapped<CompanionSsm>("ssm");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x)
    {
        var input = Children().Any(c => c.Name == "preprocess") ? Child("preprocess").Forward(x) : x;
        return x + Child("mlp").Forward(Child("ssm").Forward(input));
    }
}

namespace Engine.Nn;

/// <summary>
/// The shape of a <see cref="SpaceTime"/> network (spec seeds-remaining §3, scaled down for CPU demos: the paper's
/// default is width 128, d = 64, lag = horizon = 96).
/// </summary>
/// <param name="Lag">L, the length of the lag window the forecast is conditioned on.</param>
/// <param name="Horizon">T, the number of positions forecast after the lag window.</param>
/// <param name="Width">The embedding width, which is also the number of companion kernels per layer (one per channel).</param>
/// <param name="StateSize">d, the state size of every companion kernel.</param>
/// <param name="EncoderBlocks">The number of encoder blocks (companion SSM + MLP, residual); the first one differences its input.</param>
/// <param name="MlpRatio">The hidden width of each encoder MLP, as a multiple of <paramref name="Width"/>.</param>
/// <param name="Differencing">True: the first encoder block's SSM sees the differenced input (<see cref="DifferencingSsm"/>).</param>
/// <param name="NormalizeA">True: every companion matrix uses its L1-normalised last column.</param>
public sealed record SpaceTimeConfig(int Lag, int Horizon, int Width = 16, int StateSize = 16, int EncoderBlocks = 2,
    int MlpRatio = 2, bool Differencing = true, bool NormalizeA = true)
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming the first value out of range.</summary>
    public void Validate()
    {
        if (Lag < 2) throw new ArgumentException($"SpaceTimeConfig: Lag must be at least 2, got {Lag}");
        if (Horizon < 1) throw new ArgumentException($"SpaceTimeConfig: Horizon must be at least 1, got {Horizon}");
        if (Width < 1) throw new ArgumentException($"SpaceTimeConfig: Width must be at least 1, got {Width}");
        if (StateSize < 1) throw new ArgumentException($"SpaceTimeConfig: StateSize must be at least 1, got {StateSize}");
        if (EncoderBlocks < 0) throw new ArgumentException($"SpaceTimeConfig: EncoderBlocks must be at least 0, got {EncoderBlocks}");
        if (MlpRatio < 1) throw new ArgumentException($"SpaceTimeConfig: MlpRatio must be at least 1, got {MlpRatio}");
    }
}

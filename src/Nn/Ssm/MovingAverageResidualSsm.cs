namespace Engine.Nn;

/// <summary>
/// SpaceTime's moving-average residual preprocessing (reference <c>model/ssm/preprocess/ma_residual.py</c>): channel h
/// outputs u_t - mean(u_{t-m_h+1..t}), the series minus its trailing moving average over a window m_h (zeros before
/// the start count in the mean). Kernel [1 - 1/m, -1/m, ..., -1/m] (m taps). The reference draws windows in
/// [4, 720) and, as released, returns its unmodified kernel (an identity); this layer applies the residual it describes.
/// </summary>
public sealed class MovingAverageResidualSsm : FixedKernelSsm
{
    /// <summary>One channel per entry of <paramref name="windows"/> (each at least 1).</summary>
    public MovingAverageResidualSsm(IReadOnlyList<int> windows) : base(Kernels(windows))
    {
        Windows = windows.ToArray();
    }

    /// <summary>
    /// <paramref name="channels"/> channels with windows drawn uniformly from [<paramref name="minWindow"/>,
    /// <paramref name="maxWindow"/>] (the reference's 4 and 720; clip the upper end to the sequence length).
    /// </summary>
    public static MovingAverageResidualSsm Random(int channels, int minWindow = 4, int maxWindow = 720, Generator? generator = null)
    {
        if (channels < 1) throw new ArgumentException($"MovingAverageResidualSsm: needs at least one channel, got {channels}");
        if (minWindow < 1 || maxWindow < minWindow)
            throw new ArgumentException($"MovingAverageResidualSsm: needs 1 <= minWindow <= maxWindow, got [{minWindow}, {maxWindow}]");
        var draws = Tensor.Rand([channels], dtype: DType.Float64, generator: generator).ToDoubleArray();
        return new MovingAverageResidualSsm(draws.Select(u => minWindow + (int)Math.Min(maxWindow - minWindow, Math.Floor(u * (maxWindow - minWindow + 1)))).ToArray());
    }

    /// <summary>The window m_h of each channel.</summary>
    public IReadOnlyList<int> Windows { get; }

    static Tensor Kernels(IReadOnlyList<int> windows)
    {
        if (windows.Count < 1) throw new ArgumentException("MovingAverageResidualSsm: needs at least one window");
        if (windows.Any(m => m < 1)) throw new ArgumentException($"MovingAverageResidualSsm: windows must be at least 1, got [{string.Join(", ", windows)}]");
        int taps = windows.Max();
        var kernel = new double[windows.Count * taps];
        for (int h = 0; h < windows.Count; h++)
        {
            int m = windows[h];
            for (int j = 0; j < m; j++) kernel[h * taps + j] = (j == 0 ? 1.0 : 0.0) - 1.0 / m;
        }
        return Tensor.FromArray(kernel, [windows.Count, taps]).To(DType.Float32);
    }
}

namespace Engine.Nn;

/// <summary>
/// SpaceTime's differencing preprocessing (reference <c>model/ssm/preprocess/differencing.py</c>): channel h applies
/// the order-(h mod orders) difference, the signed binomial row of Pascal's triangle ([1], [1, -1], [1, -2, 1],
/// [1, -3, 3, -1] for orders 0..3), zero-padded to the kernel dimension. Order 1 turns a linear ramp into a constant
/// and order 2 a quadratic (after the first order positions, which see zeros before the start).
/// <code>var diff = new DifferencingSsm(channels: 8); var y = diff.Forward(u); // [B, L, 8]</code>
/// </summary>
public sealed class DifferencingSsm : FixedKernelSsm
{
    /// <summary>Kernels for <paramref name="channels"/> channels cycling through orders 0..<paramref name="orders"/>-1, each <paramref name="kernelDim"/> taps (at least <paramref name="orders"/>).</summary>
    public DifferencingSsm(int channels, int orders = 4, int kernelDim = 4) : base(Kernels(channels, orders, kernelDim))
    {
        Orders = orders;
    }

    /// <summary>The number of difference orders (0..Orders-1) the channels cycle through.</summary>
    public int Orders { get; }

    /// <summary>The order-n difference kernel: (-1)^m C(n, m) for m = 0..n.</summary>
    public static double[] Coefficients(int order)
    {
        if (order < 0) throw new ArgumentException($"DifferencingSsm: order must be at least 0, got {order}");
        var row = new double[order + 1];
        row[0] = 1;
        for (int m = 1; m <= order; m++) row[m] = -row[m - 1] * (order - m + 1) / m;
        return row;
    }

    static Tensor Kernels(int channels, int orders, int kernelDim)
    {
        if (channels < 1) throw new ArgumentException($"DifferencingSsm: needs at least one channel, got {channels}");
        if (orders < 1 || kernelDim < orders)
            throw new ArgumentException($"DifferencingSsm: needs 1 <= orders <= kernelDim, got orders {orders} and kernelDim {kernelDim}");
        var kernel = new double[channels * kernelDim];
        for (int h = 0; h < channels; h++)
        {
            var row = Coefficients(h % orders);
            Array.Copy(row, 0, kernel, h * kernelDim, row.Length);
        }
        return Tensor.FromArray(kernel, [channels, kernelDim]).To(DType.Float32);
    }
}

using Engine.Autograd;

namespace Engine.Peft.Subspace;

/// <summary>
/// The Q factor of the reduced QR decomposition A = Q R of a tall matrix A [m, n] (m ≥ n), differentiable, with
/// LAPACK's signs (torch.linalg.qr on the CPU: geqrf's Householder reflectors make R[k, k] = -sign(α_k) ‖x_k‖, α_k the
/// pivot the k-th reflector sees). DeFT's "qr" projection needs those signs: its injection Q (s R) changes when a
/// column of Q flips, so a PEFT file's R only fits PyTorch's Q. <see cref="Linalg.Qr"/> normalises the signs instead.
/// The forward runs on the host in double precision; the backward is made of tensor ops on the input's device.
/// <code>var q = DifferentiableQr.Q(p); // q.T % q ≈ I, gradients flow to p</code>
/// </summary>
public static class DifferentiableQr
{
    /// <summary>Q [m, n] of A [m, n] (m ≥ n, full column rank), with LAPACK's signs.</summary>
    /// <exception cref="ArgumentException">A is not a tall matrix.</exception>
    public static Tensor Q(Tensor a)
    {
        if (a.Rank != 2 || a.Size(0) < a.Size(1) || a.Size(1) < 1)
            throw new ArgumentException($"DifferentiableQr: expects a matrix [m, n] with m >= n >= 1, got {Shapes.Format(a.Shape)}");
        return new QrFunction().Apply(a);
    }

    /// <summary>Q and R of A by Householder reflections with LAPACK's sign rule (dlarfg), in double precision, row-major.</summary>
    public static (double[] Q, double[] R) Householder(double[] a, int m, int n)
    {
        var work = (double[])a.Clone();
        var vs = new double[n][];
        var taus = new double[n];
        var r = new double[n * n];
        for (int k = 0; k < n; k++)
        {
            double alpha = work[k * n + k], xnorm = 0;
            for (int i = k + 1; i < m; i++) xnorm += work[i * n + k] * work[i * n + k];
            xnorm = Math.Sqrt(xnorm);
            var v = new double[m - k];
            v[0] = 1;
            if (xnorm == 0) taus[k] = 0; // H = I: the column is already reduced, and R keeps its sign.
            else
            {
                double beta = -Math.CopySign(Hypot(alpha, xnorm), alpha);
                taus[k] = (beta - alpha) / beta;
                for (int i = k + 1; i < m; i++) v[i - k] = work[i * n + k] / (alpha - beta);
                // Apply H = I - tau v v^T to the remaining columns.
                for (int j = k; j < n; j++)
                {
                    double dot = 0;
                    for (int i = k; i < m; i++) dot += v[i - k] * work[i * n + j];
                    dot *= taus[k];
                    for (int i = k; i < m; i++) work[i * n + j] -= dot * v[i - k];
                }
            }
            vs[k] = v;
            for (int j = k; j < n; j++) r[k * n + j] = work[k * n + j];
        }
        // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity (LAPACK's orgqr).
        var q = new double[m * n];
        for (int j = 0; j < n; j++) q[j * n + j] = 1;
        for (int k = n - 1; k >= 0; k--)
        {
            if (taus[k] == 0) continue;
            var v = vs[k];
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int i = k; i < m; i++) dot += v[i - k] * q[i * n + j];
                dot *= taus[k];
                for (int i = k; i < m; i++) q[i * n + j] -= dot * v[i - k];
            }
        }
        return (q, r);
    }

    static double Hypot(double x, double y)
    {
        double ax = Math.Abs(x), ay = Math.Abs(y), big = Math.Max(ax, ay), small = Math.Min(ax, ay);
        return big == 0 ? 0 : big * Math.Sqrt(1 + small / big * (small / big));
    }

    sealed class QrFunction : Function
    {
        protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
        {
            var a = inputs[0];
            int m = a.Size(0), n = a.Size(1);
            var (q, r) = Householder(a.ToDoubleArray(), m, n);
            var qt = Tensor.FromArray(q, [m, n]).To(a.DType).To(a.Device);
            ctx.SaveForBackward(qt, Tensor.FromArray(r, [n, n]).To(a.DType).To(a.Device));
            return qt;
        }

        // A = QR, Q^T Q = I: gA = [(I - Q Q^T) gQ + Q S] R^-T with S = tril(Q^T gQ - gQ^T Q, -1), from
        // dQ = (I - Q Q^T) dA R^-1 + Q C, C the skew matrix with the strict lower part of Q^T dA R^-1
        // (Walter and Lehmann 2018, "Algorithmic differentiation of linear algebra functions").
        protected override Tensor?[] Backward(FunctionContext ctx, Tensor g)
        {
            var (q, r) = (ctx.SavedTensors[0], ctx.SavedTensors[1]);
            var qtg = q.T % g;
            var s = (qtg - qtg.T).Tril(-1);
            var m = g - q % qtg + q % s;
            // M R^-T = (R^-1 M^T)^T: one triangular solve.
            return [Tensor.SolveTriangular(r, m.T, upper: true).T];
        }
    }
}

using System.Numerics;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void AdamStep(StridedView p, StridedView g, StridedView m, StridedView v, double beta1, double beta2, double eps, double stepSize, double c2, double decay)
    {
        switch (p.Storage.DType)
        {
            case DType.Float32: AdamStepTyped<float>(p, g, m, v, beta1, beta2, eps, stepSize, c2, decay); break;
            case DType.Float64: AdamStepTyped<double>(p, g, m, v, beta1, beta2, eps, stepSize, c2, decay); break;
            default: throw new NotSupportedException($"AdamStep: needs floating parameters, got {p.Storage.DType.Name()}");
        }
    }

    static void AdamStepTyped<T>(StridedView p, StridedView g, StridedView m, StridedView v, double beta1, double beta2, double eps, double stepSize, double c2, double decay)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (P, G, M, V) = (Cpu(p).Array<T>(), Cpu(g).Array<T>(), Cpu(m).Array<T>(), Cpu(v).Array<T>());
        var (po, go, mo, vo) = ((int)p.Offset, (int)g.Offset, (int)m.Offset, (int)v.Offset);
        T b1 = T.CreateTruncating(beta1), b2 = T.CreateTruncating(beta2), e = T.CreateTruncating(eps);
        T a = T.CreateTruncating(stepSize), keep = T.CreateTruncating(1 - decay), inv2 = T.CreateTruncating(1 / c2);
        T one = T.One;
        CpuThreading.For(p.Numel, p.Numel * 8, (s, end) =>
        {
            int i = (int)s, n = (int)end;
            if (Vector.IsHardwareAccelerated)
            {
                var (vb1, vb2, ve, va, vk, vi, v1) = (new Vector<T>(b1), new Vector<T>(b2), new Vector<T>(e), new Vector<T>(a), new Vector<T>(keep), new Vector<T>(inv2), Vector<T>.One);
                for (; i <= n - Vector<T>.Count; i += Vector<T>.Count)
                {
                    var gv = new Vector<T>(G, go + i);
                    var mv = vb1 * new Vector<T>(M, mo + i) + (v1 - vb1) * gv;
                    var vv = vb2 * new Vector<T>(V, vo + i) + (v1 - vb2) * gv * gv;
                    var pv = vk * new Vector<T>(P, po + i) - va * mv / (Vector.SquareRoot(vv * vi) + ve);
                    mv.CopyTo(M, mo + i);
                    vv.CopyTo(V, vo + i);
                    pv.CopyTo(P, po + i);
                }
            }
            for (; i < n; i++)
            {
                T gi = G[go + i];
                T mi = b1 * M[mo + i] + (one - b1) * gi;
                T vi2 = b2 * V[vo + i] + (one - b2) * gi * gi;
                M[mo + i] = mi;
                V[vo + i] = vi2;
                P[po + i] = keep * P[po + i] - a * mi / (T.Sqrt(vi2 * inv2) + e);
            }
        });
    }
}

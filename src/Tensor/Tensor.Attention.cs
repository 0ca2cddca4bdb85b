using System.Diagnostics.CodeAnalysis;
using Engine.Backends.Cpu;
using Engine.Recording;

namespace Engine;

// Fused scaled dot-product attention, forward and backward.
public sealed partial class Tensor
{
    /// <summary>
    /// softmax(q k^T / sqrt(D) + masks) v computed in one fused pass per head: q [B, H, T, D], k and v
    /// [B, H, T_keys, D]; <paramref name="keyPaddingMask"/> [B, T_keys] is true at keys no query may see; with
    /// <paramref name="causal"/> query i (at position <paramref name="past"/> + i) sees keys 0..past + i.
    /// <paramref name="output"/> is [B, T, H * D], the heads concatenated as attention layers feed their output
    /// projection. When an input requires grad the op is recorded, and its backward (<see cref="AttentionBackward"/>)
    /// recomputes the weights block by block instead of keeping [B, H, T, T_keys] tensors alive between the passes.
    /// Returns false, computing nothing, where the fused kernel does not apply: off the CPU, or for dtypes other
    /// than Float32/Float64; the caller then composes the same math from differentiable ops. A row whose keys are
    /// all masked gives NaN, as the composed softmax does.
    /// </summary>
    public static bool TryFusedAttention(Tensor q, Tensor k, Tensor v, bool causal, int past, Tensor? keyPaddingMask,
        [NotNullWhen(true)] out Tensor? output)
    {
        output = null;
        // Recorded or not, the output comes from the same kernel, so a model gives bit-identical outputs whether or
        // not its parameters are frozen.
        if (q.Backend is not CpuBackend cpu || k.Backend != cpu || v.Backend != cpu) return false;
        if (q.DType is not (DType.Float32 or DType.Float64) || k.DType != q.DType || v.DType != q.DType) return false;
        Require(q.Rank == 4 && k.Rank == 4 && v.Rank == 4, $"Attention: q, k and v must be [B, H, T, D], got {Shapes.Format(q._shape)}, {Shapes.Format(k._shape)}, {Shapes.Format(v._shape)}");
        int b = q._shape[0], h = q._shape[1], t = q._shape[2], d = q._shape[3], tk = k._shape[2];
        Require(k._shape.AsSpan().SequenceEqual([b, h, tk, d]) && v._shape.AsSpan().SequenceEqual([b, h, tk, d]),
            $"Attention: q {Shapes.Format(q._shape)} needs k and v of [{b}, {h}, T_keys, {d}], got {Shapes.Format(k._shape)} and {Shapes.Format(v._shape)}");
        Tensor? bias = null;
        if (keyPaddingMask is not null)
        {
            Require(keyPaddingMask.Rank == 2 && keyPaddingMask._shape[0] == b && keyPaddingMask._shape[1] == tk,
                $"Attention: key padding mask must be [{b}, {tk}], got {Shapes.Format(keyPaddingMask._shape)}");
            RequireSameDevice("Attention", q, keyPaddingMask);
            bias = Where(keyPaddingMask.To(DType.Bool), double.NegativeInfinity, 0.0, q.DType).Contiguous();
        }
        var result = Empty([b, t, h, d], q.DType, cpu);
        cpu.Attention(q.Strided, k.Strided, v.Strided, bias?.Strided, causal, past, 1 / Math.Sqrt(d), result.Strided);
        output = result.Record(OpKind.Attention, [q, k, v], new OpAttributes { Start = past, Causal = causal, Saved = bias is null ? null : [bias] })
            .Reshape(b, t, h * d);
        return true;
    }

    /// <summary>
    /// The gradients of q, k and v of a recorded fused attention (<see cref="TryFusedAttention"/>) from its output
    /// <paramref name="y"/> [B, T, H, D] and the output's gradient <paramref name="dy"/>; null for inputs that do not
    /// require grad. Not differentiable itself: a backward that is to be recorded (create_graph) composes the same
    /// math from differentiable ops instead.
    /// </summary>
    internal static Tensor?[] AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyBias, bool causal, int past, Tensor y, Tensor dy)
    {
        var cpu = (CpuBackend)q.Backend;
        int d = q._shape[3];
        // Written in [B, T, H, D] order: the gradient then leaves the usual [B, T, H, D] -> [B, H, T, D] head split as a view.
        int batch = q._shape[0], heads = q._shape[1], t = q._shape[2], tk = k._shape[2];
        var dq = Empty([batch, t, heads, d], q.DType, cpu).Transpose(1, 2);
        var dk = Empty([batch, tk, heads, d], k.DType, cpu, zeroed: true).Transpose(1, 2);
        var dv = Empty([batch, tk, heads, d], v.DType, cpu, zeroed: true).Transpose(1, 2);
        var dyContiguous = dy.Contiguous();
        cpu.AttentionBackward(q.Strided, k.Strided, v.Strided, keyBias?.Strided, causal, past, 1 / Math.Sqrt(d), y.Strided, dyContiguous.Strided, dq.Strided, dk.Strided, dv.Strided);
        return [q.RequiresGrad ? dq : null, k.RequiresGrad ? dk : null, v.RequiresGrad ? dv : null];
    }
}

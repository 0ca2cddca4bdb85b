using Engine.Recording;

namespace Engine;

// Fused normalisation ops: one kernel forward, one kernel backward, where the composite would allocate a dozen tensors.
public sealed partial class Tensor
{
    /// <summary>
    /// Layer normalisation over the last dimension (torch.nn.functional.layer_norm with normalized_shape = [C]):
    /// (x - mean) / sqrt(var + eps) * weight + bias, biased variance. Weight and bias are [C]; null means 1 and 0.
    /// </summary>
    public Tensor LayerNorm(Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        Require(Rank >= 1 && DType.IsFloating(), $"LayerNorm: expects a floating tensor with at least one dimension, got {DType.Name()} {Shapes.Format(_shape)}");
        int c = _shape[^1];
        var w = (weight ?? Ones([c], DType, Device)).To(DType);
        var b = (bias ?? Zeros([c], DType, Device)).To(DType);
        RequireSameDevice("LayerNorm", this, w);
        RequireSameDevice("LayerNorm", this, b);
        Require(w.Rank == 1 && w._shape[0] == c && b.Rank == 1 && b._shape[0] == c,
            $"LayerNorm: weight {Shapes.Format(w._shape)} and bias {Shapes.Format(b._shape)} must be [{c}] for input {Shapes.Format(_shape)}");
        var x = Contiguous();
        var (wc, bc) = (w.Contiguous(), b.Contiguous());
        int[] rowShape = [.. _shape[..^1], 1];
        var y = Empty(_shape, DType, Backend);
        var mean = Empty(rowShape, DType, Backend);
        var rstd = Empty(rowShape, DType, Backend);
        Backend.LayerNorm(x.Strided, wc.Strided, bc.Strided, eps, y.Strided, mean.Strided, rstd.Strided);
        return y.Record(OpKind.LayerNorm, [x, wc, bc], new() { P0 = eps, Saved = [mean, rstd] });
    }

    /// <summary>The fused LayerNorm backward (not recorded): (dx, dweight, dbias).</summary>
    internal static (Tensor Dx, Tensor Dweight, Tensor Dbias) LayerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor grad)
    {
        var g = grad.Contiguous();
        var dx = Empty(x._shape, x.DType, x.Backend);
        var dw = Empty(weight._shape, x.DType, x.Backend);
        var db = Empty(weight._shape, x.DType, x.Backend);
        x.Backend.LayerNormBackward(x.Strided, weight.Strided, mean.Strided, rstd.Strided, g.Strided, dx.Strided, dw.Strided, db.Strided);
        return (dx, dw, db);
    }
}

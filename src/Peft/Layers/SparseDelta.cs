namespace Engine.Peft;

/// <summary>
/// A sparse change of an [rows, cols] matrix: values [k] at flat row-major positions [k] (i·cols + j), zero elsewhere.
/// The one mechanism behind every method with a sparse support — SHiRA, Super-Tuning, FourierFT's spectrum, SLTrain's
/// Ω, SaRA's selected entries, SPT's unstructured part (adapters-other.md, "Shared mechanisms"): the dense form is
/// differentiable in the values (index_add, whose adjoint gathers the gradient at the positions), and a merge adds the
/// values in place of their entries (scatter-add) without forming the dense matrix. Repeated positions accumulate, as
/// torch's index_add does.
/// </summary>
public static class SparseDelta
{
    /// <summary>The dense [rows, cols] matrix: values[k] at flat[k], zero elsewhere; differentiable in the values.</summary>
    public static Tensor Dense(Tensor values, Tensor flat, int rows, int cols) =>
        Tensor.Zeros([rows * cols], values.DType, values.Device).IndexAdd(0, flat, values).Reshape(rows, cols);

    /// <summary>
    /// <paramref name="matrix"/> [rows, cols] with <paramref name="values"/>[k] added at <paramref name="flat"/>[k]
    /// (a new tensor; the merge of a sparse delta: one pass over k entries after the copy, no dense delta).
    /// </summary>
    public static Tensor AddTo(Tensor matrix, Tensor flat, Tensor values)
    {
        if (matrix.Rank != 2)
            throw new ArgumentException($"SparseDelta.AddTo: expects a matrix, got {Shapes.Format(matrix.Shape)}");
        return matrix.Reshape(-1).IndexAdd(0, flat, values.To(matrix.DType)).Reshape(matrix.Shape);
    }

    /// <summary>The entries of <paramref name="matrix"/> [rows, cols] at the flat positions [k] (differentiable).</summary>
    public static Tensor Gather(Tensor matrix, Tensor flat) => matrix.Reshape(-1).IndexSelect(0, flat);

    /// <summary>Flat positions [k] (Int64) of the (row, column) pairs in <paramref name="indices"/> [2, k].</summary>
    public static Tensor FlatOf(Tensor indices, int cols)
    {
        if (indices.Rank != 2 || indices.Size(0) != 2)
            throw new ArgumentException($"SparseDelta.FlatOf: expects (row, column) indices [2, k], got {Shapes.Format(indices.Shape)}");
        var idx = indices.To(DType.Int64);
        return idx.Narrow(0, 0, 1).Reshape(-1) * cols + idx.Narrow(0, 1, 1).Reshape(-1);
    }

    /// <summary>
    /// The flat positions (row-major) of the entries where <paramref name="select"/> holds, in ascending order — the
    /// order torch.nonzero / torch.where list a boolean mask in.
    /// </summary>
    public static long[] Where(Tensor matrix, Func<double, bool> select)
    {
        var w = matrix.Detach().To(Device.Cpu).ToDoubleArray();
        var positions = new List<long>();
        for (long i = 0; i < w.Length; i++)
            if (select(w[i])) positions.Add(i);
        return positions.ToArray();
    }
}

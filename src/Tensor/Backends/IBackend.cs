namespace Engine.Backends;

/// <summary>
/// The contract every compute backend implements (CPU now, ILGPU next). It is deliberately small and
/// GPU-shaped: whole-tensor kernels over <see cref="StridedView"/>s, no per-element callbacks, no assumption
/// that storage is a managed array. Outputs are always fresh contiguous storages prepared by the front end,
/// except for <see cref="Copy"/> and <see cref="Fill"/>, which write into any view.
/// Shapes are validated by the front end; a backend may assume they agree.
/// </summary>
public interface IBackend
{
    /// <summary>The device this backend computes on.</summary>
    Device Device { get; }

    /// <summary>A new buffer; zeroed when <paramref name="zeroed"/> is true, otherwise contents are unspecified.</summary>
    Storage Allocate(DType dtype, long length, bool zeroed = true);

    /// <summary>A new buffer holding a copy of host data.</summary>
    Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged;

    /// <summary>Copies the elements of a view, in row-major order, into host memory.</summary>
    void ToHost<T>(StridedView source, Span<T> destination) where T : unmanaged;

    /// <summary>Writes one value into every element of a view.</summary>
    void Fill(StridedView destination, double value);

    /// <summary>Copies elementwise between two views of the same shape, converting dtype when they differ.</summary>
    void Copy(StridedView source, StridedView destination);

    /// <summary>y = op(x). <paramref name="p0"/>, <paramref name="p1"/> are op parameters (clamp min/max).</summary>
    void Unary(UnaryOp op, StridedView x, StridedView y, double p0 = 0, double p1 = 0);

    /// <summary>y = op(a, b) on views already broadcast to y's shape (stride 0 where broadcast).</summary>
    void Binary(BinaryOp op, StridedView a, StridedView b, StridedView y);

    /// <summary>Bool y = a op b on broadcast views.</summary>
    void Compare(CompareOp op, StridedView a, StridedView b, StridedView y);

    /// <summary>y = condition ? a : b on broadcast views.</summary>
    void Where(StridedView condition, StridedView a, StridedView b, StridedView y);

    /// <summary>Reduces x over <paramref name="axes"/> into y, whose shape is x's with those axes set to 1.</summary>
    void Reduce(ReduceOp op, StridedView x, int[] axes, StridedView y);

    /// <summary>Index (Int64) of the max or min along one axis; y has that axis of size 1.</summary>
    void ArgReduce(bool max, StridedView x, int axis, StridedView indices);

    /// <summary>Running sum along one axis.</summary>
    void Cumsum(StridedView x, int axis, StridedView y);

    /// <summary>Numerically stable softmax (or log-softmax) along one axis.</summary>
    void Softmax(StridedView x, int axis, bool log, StridedView y);

    /// <summary>
    /// Gradient of softmax (or log-softmax) along the last axis from its output y and the output gradient g:
    /// y (g - sum(g y)) for softmax, g - exp(y) sum(g) for log-softmax. All views contiguous, same shape.
    /// </summary>
    void SoftmaxBackward(StridedView y, StridedView grad, bool log, StridedView dx);

    /// <summary>
    /// Layer normalisation over the last axis: y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased
    /// variance; also writes each row's mean and 1/sqrt(var + eps) ([rows]). All views contiguous.
    /// </summary>
    void LayerNorm(StridedView x, StridedView weight, StridedView bias, double eps, StridedView y, StridedView mean, StridedView rstd);

    /// <summary>Gradients of <see cref="LayerNorm"/> from the output gradient: dx, and dweight/dbias summed over rows in row order.</summary>
    void LayerNormBackward(StridedView x, StridedView weight, StridedView mean, StridedView rstd, StridedView grad,
        StridedView dx, StridedView dweight, StridedView dbias);

    /// <summary>
    /// One Adam/AdamW update in place on contiguous parameter p and moments m, v from gradient g:
    /// m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p = p (1 - decay) - stepSize m / (sqrt(v / c2) + eps),
    /// with decay = lr * weight decay for AdamW (0 for Adam, whose decay is folded into g by the caller).
    /// </summary>
    void AdamStep(StridedView p, StridedView g, StridedView m, StridedView v, double beta1, double beta2, double eps, double stepSize, double c2, double decay);

    /// <summary>
    /// Batched matrix product: a [..., M, K] @ b [..., K, N] = y [..., M, N], batch dims already broadcast. With
    /// <paramref name="accumulate"/> the product is added to y's contents (a bias placed there first costs no extra pass).
    /// </summary>
    void MatMul(StridedView a, StridedView b, StridedView y, bool accumulate = false);

    /// <summary>y[..., i, ...] = x[..., index[..., i, ...], ...] along <paramref name="axis"/> (torch.gather).</summary>
    void Gather(StridedView x, int axis, StridedView index, StridedView y);

    /// <summary>y[..., index[..., i, ...], ...] += source[..., i, ...] along <paramref name="axis"/> (torch.scatter_add_), in place on y.</summary>
    void ScatterAdd(StridedView y, int axis, StridedView index, StridedView source);

    /// <summary>y = x with the slices along <paramref name="axis"/> picked by the 1-D Int64 index.</summary>
    void IndexSelect(StridedView x, int axis, StridedView index, StridedView y);

    /// <summary>y's slice index[i] along <paramref name="axis"/> += source's slice i (torch.index_add_), in place on y, in index order.</summary>
    void IndexAdd(StridedView y, int axis, StridedView index, StridedView source);

    /// <summary>Fills y with draws from the counter-based generator: element i uses counter <paramref name="offset"/> + i under key <paramref name="seed"/>.</summary>
    void Random(RandomKind kind, ulong seed, ulong offset, StridedView y, double a, double b);

    /// <summary>Real-input DFT along the last axis: x [..., n] to y [..., n/2+1, 2] (real and imaginary parts).</summary>
    void Rfft(StridedView x, StridedView y);

    /// <summary>Inverse of <see cref="Rfft"/>: x [..., n/2+1, 2] to real y [..., n].</summary>
    void Irfft(StridedView x, StridedView y);

    /// <summary>
    /// x = a^-1 b for triangular a [..., n, n] and b [..., n, m] (same batch shape, any strides) into contiguous
    /// x [..., n, m], reading only a's lower (or, with <paramref name="upper"/>, upper) triangle, and its diagonal
    /// only when <paramref name="unitriangular"/> is false.
    /// </summary>
    void SolveTriangular(StridedView a, StridedView b, StridedView x, bool upper, bool unitriangular);

    /// <summary>
    /// Causal convolution along the last axis: signal [..., L] and kernel [..., K] (same leading shape, any strides)
    /// to y [..., L] with y[..., t] = sum over m &lt;= min(t, K-1) of kernel[..., m] signal[..., t - m].
    /// </summary>
    void CausalConvolution(StridedView signal, StridedView kernel, StridedView y);

    /// <summary>
    /// y[..., l] = sum_n Re(c[..., n] exp(l w[..., n])) for complex pairs c, w [..., N, 2] (same shape, any strides) into
    /// contiguous y [..., L].
    /// </summary>
    void VandermondeProduct(StridedView c, StridedView w, StridedView y);

    /// <summary>
    /// For g [..., L] and complex pairs w [..., N, 2]: s0[..., n] = sum_l g[..., l] exp(l w[..., n]) and
    /// s1[..., n] = sum_l l g[..., l] exp(l w[..., n]), into contiguous pairs s0, s1 [..., N, 2].
    /// </summary>
    void VandermondeAdjoint(StridedView g, StridedView w, StridedView s0, StridedView s1);

    /// <summary>
    /// In place: the unnormalised Walsh–Hadamard transform of the last dimension of contiguous x [..., L] (L a power
    /// of two), by log2(L) butterfly stages (a, b) to (a + b, a - b).
    /// </summary>
    void Fwht(StridedView x);
}

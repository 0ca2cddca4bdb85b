using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace Engine;

/// <summary>
/// Matrix decompositions and solvers with torch.linalg's names and conventions, computed on the host in double
/// precision by MathNet.Numerics (managed provider). Inputs may be of any floating or integer dtype; results are
/// Float64 for Float64 input and Float32 otherwise. Every op takes a matrix [m, n] or a batch [..., m, n] and treats
/// each matrix of a batch independently. Errors name the op and the shape.
/// </summary>
public static class Linalg
{
    /// <summary>
    /// Singular value decomposition A = U diag(S) Vh (torch.linalg.svd). Thin by default: U [m,k], S [k], Vh [k,n]
    /// with k = min(m,n); with <paramref name="fullMatrices"/>, U [m,m] and Vh [n,n]. Singular values are
    /// non-negative and descending. Singular vectors are unique only up to sign (and rotation within repeated values).
    /// <code>var (u, s, vh) = Linalg.Svd(a); // a ≈ u * s.Unsqueeze(0) % vh</code>
    /// </summary>
    public static (Tensor U, Tensor S, Tensor Vh) Svd(Tensor a, bool fullMatrices = false)
    {
        var input = MatrixBatch.Read("Svd", a);
        int m = input.Rows, n = input.Cols, k = Math.Min(m, n);
        var us = new List<double[]>();
        var ss = new List<double[]>();
        var vhs = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            var (u, s, vh) = SvdOf(matrix);
            us.Add((fullMatrices ? u : u.SubMatrix(0, m, 0, k)).ToRowMajorArray());
            ss.Add(s);
            vhs.Add((fullMatrices ? vh : vh.SubMatrix(0, k, 0, n)).ToRowMajorArray());
        }
        return (input.Pack(us, fullMatrices ? [m, m] : [m, k]),
                input.Pack(ss, [k]),
                input.Pack(vhs, fullMatrices ? [n, n] : [k, n]));
    }

    /// <summary>
    /// The <paramref name="k"/> largest singular triplets: U [m,k], S [k] (descending), Vh [k,n], so that
    /// U diag(S) Vh is the best rank-k approximation of A (Eckart and Young 1936). Computed from the full SVD, so exact.
    /// <code>var (u, s, vh) = Linalg.SvdTopK(weight, 8); // LoRA-style initialisation from the top 8 directions</code>
    /// </summary>
    public static (Tensor U, Tensor S, Tensor Vh) SvdTopK(Tensor a, int k)
    {
        var input = MatrixBatch.Read("SvdTopK", a);
        int m = input.Rows, n = input.Cols;
        if (k < 1 || k > Math.Min(m, n))
            throw new ArgumentException($"SvdTopK: k must be between 1 and min(m, n) = {Math.Min(m, n)} for matrix {input.ShapeText}, got {k}");
        var us = new List<double[]>();
        var ss = new List<double[]>();
        var vhs = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            var (u, s, vh) = SvdOf(matrix);
            us.Add(u.SubMatrix(0, m, 0, k).ToRowMajorArray());
            ss.Add(s[..k]);
            vhs.Add(vh.SubMatrix(0, k, 0, n).ToRowMajorArray());
        }
        return (input.Pack(us, [m, k]), input.Pack(ss, [k]), input.Pack(vhs, [k, n]));
    }

    // Full SVD (U [m,m], S [min(m,n)], Vh [n,n]); MathNet returns the singular values in descending order.
    static (Matrix<double> U, double[] S, Matrix<double> Vh) SvdOf(Matrix<double> matrix)
    {
        var svd = matrix.Svd(computeVectors: true);
        return (svd.U, svd.S.ToArray(), svd.VT);
    }

    /// <summary>
    /// Reduced QR decomposition A = Q R (torch.linalg.qr, mode "reduced"): Q [m,k] with orthonormal columns and
    /// R [k,n] upper triangular, k = min(m,n). PyTorch leaves the signs to LAPACK; here the diagonal of R is made
    /// non-negative (flipping the matching column of Q and row of R), which makes the result unique for full-rank A
    /// and comparable across backends.
    /// <code>var (q, r) = Linalg.Qr(a); // q.T % q ≈ I, q % r ≈ a</code>
    /// </summary>
    public static (Tensor Q, Tensor R) Qr(Tensor a)
    {
        var input = MatrixBatch.Read("Qr", a);
        int m = input.Rows, n = input.Cols, k = Math.Min(m, n);
        var qs = new List<double[]>();
        var rs = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            // MathNet's QR needs m >= n. A wide A = [A1 | A2] (A1 square) factors as Q [R1 | Q^T A2] from A1 = Q R1.
            var qr = matrix.SubMatrix(0, m, 0, k).QR(QRMethod.Thin);
            var q = qr.Q;
            var r = m >= n ? qr.R : q.TransposeThisAndMultiply(matrix);
            if (m < n) r.SetSubMatrix(0, 0, qr.R); // exact zeros below the diagonal of the square part
            for (int i = 0; i < k; i++)
            {
                if (r[i, i] >= 0) continue;
                r.SetRow(i, r.Row(i).Negate());
                q.SetColumn(i, q.Column(i).Negate());
            }
            qs.Add(q.ToRowMajorArray());
            rs.Add(r.ToRowMajorArray());
        }
        return (input.Pack(qs, [m, k]), input.Pack(rs, [k, n]));
    }

    /// <summary>
    /// LU decomposition with partial pivoting, A = P L U (torch.linalg.lu): for A [m,n] and k = min(m,n), P [m,m] a
    /// permutation matrix, L [m,k] unit lower trapezoidal, U [k,n] upper trapezoidal. The pivot of each column is its
    /// entry of largest magnitude on or below the diagonal, the first on ties (LAPACK getrf's idamax). Singular
    /// matrices factor too (U then has a zero on its diagonal).
    /// <code>var (p, l, u) = Linalg.Lu(a); // p % l % u ≈ a</code>
    /// </summary>
    public static (Tensor P, Tensor L, Tensor U) Lu(Tensor a)
    {
        var input = MatrixBatch.Read("Lu", a);
        int m = input.Rows, n = input.Cols, k = Math.Min(m, n);
        var ps = new List<double[]>();
        var ls = new List<double[]>();
        var us = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            var (p, l, u) = PluOf(matrix);
            ps.Add(p.ToRowMajorArray());
            ls.Add(l.ToRowMajorArray());
            us.Add(u.ToRowMajorArray());
        }
        return (input.Pack(ps, [m, m]), input.Pack(ls, [m, k]), input.Pack(us, [k, n]));
    }

    /// <summary>
    /// LDU decomposition A = P L diag(D) U for A [m,n], k = min(m,n): P a permutation matrix [m,m], L unit lower
    /// trapezoidal [m,k], D the pivots [k], U unit upper trapezoidal [k,n] (each row of <see cref="Lu"/>'s U divided by
    /// its pivot, as LoLDU's ldu_decomposition does). It needs every pivot non-zero: singular matrices throw.
    /// <code>var (p, l, d, u) = Linalg.Ldu(a); // p % l % (d.Unsqueeze(1) * u) ≈ a</code>
    /// </summary>
    public static (Tensor P, Tensor L, Tensor D, Tensor U) Ldu(Tensor a)
    {
        var input = MatrixBatch.Read("Ldu", a);
        int m = input.Rows, n = input.Cols, k = Math.Min(m, n);
        var ps = new List<double[]>();
        var ls = new List<double[]>();
        var ds = new List<double[]>();
        var us = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            var (p, l, u) = PluOf(matrix);
            input.RequireNonSingular("Ldu", matrix, u);
            var d = u.Diagonal().ToArray();
            // U = diag(d) U1 with U1 unit upper trapezoidal: divide each row by its pivot.
            for (int i = 0; i < k; i++) u.SetRow(i, u.Row(i) / d[i]);
            ps.Add(p.ToRowMajorArray());
            ls.Add(l.ToRowMajorArray());
            ds.Add(d);
            us.Add(u.ToRowMajorArray());
        }
        return (input.Pack(ps, [m, m]), input.Pack(ls, [m, k]), input.Pack(ds, [k]), input.Pack(us, [k, n]));
    }

    // A = P L U. Square: MathNet factors P' A = L U with P' = Permutation.FromInversions(pivots) (rows interchanged as
    // LAPACK getrf), so PyTorch's P = P'^T. Rectangular (MathNet's LU is square only): Doolittle elimination with the
    // same pivot rule, k = min(m, n) steps.
    static (Matrix<double> P, Matrix<double> L, Matrix<double> U) PluOf(Matrix<double> matrix)
    {
        if (matrix.RowCount == matrix.ColumnCount)
        {
            var lu = matrix.LU();
            var p = Matrix<double>.Build.DenseIdentity(matrix.RowCount);
            p.PermuteRows(lu.P);
            return (p.Transpose(), lu.L, lu.U);
        }
        int m = matrix.RowCount, n = matrix.ColumnCount, k = Math.Min(m, n);
        var a = matrix.Clone();
        var order = Enumerable.Range(0, m).ToArray(); // row i of the eliminated matrix is row order[i] of A
        for (int j = 0; j < k; j++)
        {
            int pivot = j;
            for (int i = j + 1; i < m; i++) if (Math.Abs(a[i, j]) > Math.Abs(a[pivot, j])) pivot = i;
            if (pivot != j)
            {
                var row = a.Row(j);
                a.SetRow(j, a.Row(pivot));
                a.SetRow(pivot, row);
                (order[j], order[pivot]) = (order[pivot], order[j]);
            }
            double d = a[j, j];
            if (d == 0) continue; // a zero column below the diagonal: nothing to eliminate (LAPACK leaves it too)
            for (int i = j + 1; i < m; i++)
            {
                double f = a[i, j] / d;
                a[i, j] = f;
                for (int c = j + 1; c < n; c++) a[i, c] -= f * a[j, c];
            }
        }
        var l = Matrix<double>.Build.Dense(m, k, (i, c) => i == c ? 1 : i > c ? a[i, c] : 0);
        var u = Matrix<double>.Build.Dense(k, n, (i, c) => c >= i ? a[i, c] : 0);
        // P' A = L U with row i of P' A being row order[i] of A: P = P'^T has P[order[i], i] = 1.
        var pm = Matrix<double>.Build.Dense(m, m);
        for (int i = 0; i < m; i++) pm[order[i], i] = 1;
        return (pm, l, u);
    }

    /// <summary>
    /// Eigen-decomposition of a real symmetric matrix (torch.linalg.eigh): eigenvalues [n] in ascending order and
    /// orthonormal eigenvectors [n,n] as columns, so A = V diag(w) V^T. Only symmetric input is accepted: the op throws,
    /// reporting the largest asymmetry, when |A - A^T| exceeds 1e-6 times the largest |A| entry.
    /// <code>var (w, v) = Linalg.EighSymmetric(covariance);</code>
    /// </summary>
    public static (Tensor Eigenvalues, Tensor Eigenvectors) EighSymmetric(Tensor a)
    {
        var input = MatrixBatch.Read("EighSymmetric", a, square: true);
        int n = input.Rows;
        var ws = new List<double[]>();
        var vs = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            double scale = matrix.Enumerate().Select(Math.Abs).DefaultIfEmpty(0).Max();
            double asymmetry = (matrix - matrix.Transpose()).Enumerate().Select(Math.Abs).Max();
            if (asymmetry > 1e-6 * scale)
                throw new ArgumentException($"EighSymmetric: matrix {input.ShapeText} is not symmetric: max |A - A^T| = {asymmetry:G4} exceeds 1e-6 * max |A| = {1e-6 * scale:G4}");
            var evd = matrix.Evd(Symmetricity.Symmetric);
            var values = evd.EigenValues.Select(c => c.Real).ToArray();
            // Sort explicitly rather than rely on the algorithm's output order.
            var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
            var vectors = Matrix<double>.Build.Dense(n, n);
            for (int j = 0; j < n; j++) vectors.SetColumn(j, evd.EigenVectors.Column(order[j]));
            ws.Add(order.Select(i => values[i]).ToArray());
            vs.Add(vectors.ToRowMajorArray());
        }
        return (input.Pack(ws, [n]), input.Pack(vs, [n, n]));
    }

    /// <summary>
    /// The inverse of a square matrix (torch.linalg.inv). Throws when the matrix is singular to the working precision
    /// of its dtype.
    /// <code>var ainv = Linalg.Inverse(a); // a % ainv ≈ I</code>
    /// </summary>
    public static Tensor Inverse(Tensor a)
    {
        var input = MatrixBatch.Read("Inverse", a, square: true);
        var results = new List<double[]>();
        foreach (var matrix in input.Items)
        {
            var lu = matrix.LU();
            input.RequireNonSingular("Inverse", matrix, lu.U);
            results.Add(lu.Inverse().ToRowMajorArray());
        }
        return input.Pack(results, [input.Rows, input.Rows]);
    }

    /// <summary>
    /// The solution X of A X = B for square non-singular A [n,n] (torch.linalg.solve); B is a vector [n] or a matrix
    /// [n,k], and X has B's shape. With a batch of matrices [..., n, n], B is [..., n] or [..., n, k] with the same
    /// batch dimensions. The result is Float64 when either input is Float64.
    /// <code>var x = Linalg.Solve(a, b); // a % x ≈ b</code>
    /// </summary>
    public static Tensor Solve(Tensor a, Tensor b)
    {
        var input = MatrixBatch.Read("Solve", a, square: true);
        int n = input.Rows;
        int[] batch = input.BatchShape;
        bool vector = b.Rank == a.Rank - 1;
        bool shapeOk = (vector || b.Rank == a.Rank)
            && b.Shape.AsSpan(0, batch.Length).SequenceEqual(batch)
            && b.Shape[batch.Length] == n;
        if (!shapeOk)
        {
            string prefix = string.Concat(batch.Select(d => $"{d},"));
            throw new ArgumentException($"Solve: A {Shapes.Format(a.Shape)} needs B of shape [{prefix}{n}] or [{prefix}{n},k], got {Shapes.Format(b.Shape)}");
        }
        int k = vector ? 1 : b.Shape[^1];
        var rhs = b.ToDoubleArray();
        long itemSize = (long)n * k;
        var results = new List<double[]>();
        for (int i = 0; i < input.Items.Length; i++)
        {
            var lu = input.Items[i].LU();
            input.RequireNonSingular("Solve", input.Items[i], lu.U);
            var bi = Matrix<double>.Build.DenseOfRowMajor(n, k, rhs.AsSpan((int)(i * itemSize), (int)itemSize).ToArray());
            results.Add(lu.Solve(bi).ToRowMajorArray());
        }
        var dtype = a.DType == DType.Float64 || b.DType == DType.Float64 ? DType.Float64 : DType.Float32;
        return MatrixBatch.Pack(batch, dtype, results, vector ? [n] : [n, k]);
    }

    /// <summary>
    /// The determinant of a square matrix (torch.linalg.det), a scalar tensor (or one value per matrix of a batch).
    /// Singular matrices give 0 (up to rounding) rather than an error.
    /// </summary>
    public static Tensor Det(Tensor a)
    {
        var input = MatrixBatch.Read("Det", a, square: true);
        var results = input.Items.Select(m => new[] { m.LU().Determinant }).ToList();
        return input.Pack(results, []);
    }

    /// <summary>The matrices of a tensor [..., m, n] as MathNet matrices, and how to pack results back.</summary>
    sealed class MatrixBatch
    {
        public required int[] BatchShape { get; init; }
        public required int Rows { get; init; }
        public required int Cols { get; init; }
        public required Matrix<double>[] Items { get; init; }
        public required DType InputDType { get; init; }
        public required string ShapeText { get; init; }

        public static MatrixBatch Read(string op, Tensor a, bool square = false)
        {
            var shape = a.Shape;
            string text = Shapes.Format(shape);
            if (a.Rank < 2)
                throw new ArgumentException($"{op}: expects a matrix [m,n] or a batch of matrices [...,m,n], got {text}");
            if (a.DType == DType.Bool)
                throw new ArgumentException($"{op}: not defined for Bool tensors, got {text}");
            int m = shape[^2], n = shape[^1];
            if (m < 1 || n < 1)
                throw new ArgumentException($"{op}: expects a non-empty matrix, got {text}");
            if (square && m != n)
                throw new ArgumentException($"{op}: expects a square matrix, got {text}");
            var data = a.ToDoubleArray();
            long size = (long)m * n;
            var items = new Matrix<double>[data.Length / size];
            for (int i = 0; i < items.Length; i++)
                items[i] = Matrix<double>.Build.DenseOfRowMajor(m, n, data.AsSpan((int)(i * size), (int)size).ToArray());
            return new MatrixBatch { BatchShape = shape[..^2], Rows = m, Cols = n, Items = items, InputDType = a.DType, ShapeText = text };
        }

        DType OutputDType => InputDType == DType.Float64 ? DType.Float64 : DType.Float32;

        public Tensor Pack(List<double[]> items, int[] itemShape) => Pack(BatchShape, OutputDType, items, itemShape);

        public static Tensor Pack(int[] batch, DType dtype, List<double[]> items, int[] itemShape)
        {
            long size = Shapes.Numel(itemShape);
            var data = new double[items.Count * size];
            for (int i = 0; i < items.Count; i++) items[i].CopyTo(data, i * size);
            return Tensor.FromArray(data, [.. batch, .. itemShape]).To(dtype);
        }

        // Singular to working precision: some pivot of partial-pivoting LU is at most n * eps * max |A|, eps being the
        // machine epsilon of the input (Float32 data carries only single precision, whatever we compute in; integers
        // are exact in double).
        public void RequireNonSingular(string op, Matrix<double> matrix, Matrix<double> u)
        {
            double eps = InputDType == DType.Float32 ? 1.1920929e-7 : 2.220446049250313e-16;
            double scale = matrix.Enumerate().Select(Math.Abs).Max();
            double tolerance = Rows * eps * scale;
            for (int i = 0; i < Math.Min(Rows, Cols); i++)
                if (Math.Abs(u[i, i]) <= tolerance)
                    throw new ArgumentException($"{op}: matrix {ShapeText} is singular (pivot {i} is {u[i, i]:G3}, at most {tolerance:G3})");
        }
    }
}


namespace Engine.Autograd;

/// <summary>Tolerances and sizes of a gradient check.</summary>
/// <param name="Eps">Step of the central differences.</param>
/// <param name="Atol">Absolute tolerance.</param>
/// <param name="Rtol">Relative tolerance (of the numeric value).</param>
/// <param name="FullCheckLimit">Inputs with at most this many elements are checked element by element; larger ones only by directional derivatives.</param>
/// <param name="Directions">Number of random directions for the Jacobian-vector check.</param>
/// <param name="Seed">Seed of the random output projection and directions.</param>
public sealed record GradCheckOptions(double Eps = 1e-6, double Atol = 1e-5, double Rtol = 1e-3, long FullCheckLimit = 2048, int Directions = 3, ulong Seed = 1234);

/// <summary>Outcome of a gradient check, with the worst disagreement found.</summary>
public sealed record GradCheckResult(bool Passed, string Message, int WorstInput, int[] WorstIndex, double Analytic, double Numeric)
{
    public override string ToString() => Message;
}

/// <summary>Thrown by <see cref="GradCheck.Assert"/> when analytic and numeric gradients disagree.</summary>
public sealed class GradCheckException(string message) : Exception(message);

/// <summary>
/// Compares the gradients autograd computes with central finite differences, in Float64.
/// The function's output is projected on a fixed random vector v, so one backward pass gives the
/// vector-Jacobian product v^T J, which is compared (1) element by element against finite differences for small
/// inputs and (2) against Jacobian-vector products J u estimated along random directions u, which scales to large inputs.
/// <code>GradCheck.Assert(x => x[0].Tanh() * x[1], [a, b]);</code>
/// </summary>
public static class GradCheck
{
    /// <summary>
    /// Checks <paramref name="func"/>'s gradients at <paramref name="inputs"/>. Differentiates the inputs marked
    /// <c>RequiresGrad</c>, or every floating input when none is marked; other inputs (indices, masks) pass unchanged.
    /// </summary>
    public static GradCheckResult Check(Func<Tensor[], Tensor> func, Tensor[] inputs, GradCheckOptions? options = null)
    {
        var o = options ?? new GradCheckOptions();
        bool anyMarked = inputs.Any(t => t.RequiresGrad);
        var diff = inputs.Select(t => t.DType.IsFloating() && (t.RequiresGrad || !anyMarked)).ToArray();
        var values = inputs.Select((t, i) => diff[i] ? t.To(DType.Float64).ToArray<double>() : null).ToArray();
        var gen = new Generator(o.Seed);

        Tensor[] Leaves(double[]?[] vals) => inputs.Select((t, i) =>
            diff[i] ? Tensor.FromArray(vals[i]!, t.Shape).RequireGrad() : t.Detach()).ToArray();

        // The analytic side: one backward pass of sum(f(x) * v).
        var leaves = Leaves(values);
        var output = func(leaves);
        if (!output.DType.IsFloating())
            return Fail($"GradCheck: the function returns {output.DType.Name()}, which has no gradient");
        if (!output.RequiresGrad)
            return Fail("GradCheck: the output does not require grad: the function does not depend differentiably on any checked input");
        var v = Tensor.Randn(output.Shape, dtype: DType.Float64, generator: gen);
        var analytic = Autograd.Grad((output.To(DType.Float64) * v).Sum(), leaves.Where((_, i) => diff[i]).ToArray())
            .Select(g => g.ToArray<double>()).ToArray();
        var analyticByInput = new double[]?[inputs.Length];
        for (int i = 0, k = 0; i < inputs.Length; i++) if (diff[i]) analyticByInput[i] = analytic[k++];

        var vValues = v.ToArray<double>();
        double[] Outputs(double[]?[] vals) => func(Leaves(vals)).To(DType.Float64).Detach().ToArray<double>();

        var worst = (Score: 0.0, Input: -1, Index: Array.Empty<int>(), A: 0.0, N: 0.0);
        void Consider(double a, double n, int input, int[] index)
        {
            double score = Math.Abs(a - n) / (o.Atol + o.Rtol * Math.Abs(n));
            if (double.IsNaN(score)) score = double.PositiveInfinity;
            // A failing element is the more useful report: a direction sums every element's error, so it would win.
            if (input < 0 && worst.Input >= 0 && worst.Score > 1) return;
            if (score > worst.Score || worst.Input < 0) worst = (score, input, index, a, n);
        }

        // (1) Element by element.
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!diff[i] || values[i]!.Length > o.FullCheckLimit) continue;
            var strides = Shapes.ContiguousStrides(inputs[i].Shape);
            for (int j = 0; j < values[i]!.Length; j++)
            {
                var plus = (double[]?[])values.Clone();
                var minus = (double[]?[])values.Clone();
                plus[i] = (double[])values[i]!.Clone();
                minus[i] = (double[])values[i]!.Clone();
                plus[i]![j] += o.Eps;
                minus[i]![j] -= o.Eps;
                double numeric = ProjectedDifference(Outputs(plus), Outputs(minus), vValues, o.Eps);
                Consider(analyticByInput[i]![j], numeric, i, Unravel(j, strides));
            }
        }

        // (2) Along random directions: J u by differences against <v^T J, u> from the backward pass.
        for (int d = 0; d < o.Directions; d++)
        {
            var dirs = inputs.Select((t, i) => diff[i] ? Tensor.Randn(t.Shape, dtype: DType.Float64, generator: gen).ToArray<double>() : null).ToArray();
            var plus = values.Select((x, i) => x is null ? null : x.Select((e, j) => e + o.Eps * dirs[i]![j]).ToArray()).ToArray();
            var minus = values.Select((x, i) => x is null ? null : x.Select((e, j) => e - o.Eps * dirs[i]![j]).ToArray()).ToArray();
            double numeric = ProjectedDifference(Outputs(plus), Outputs(minus), vValues, o.Eps);
            double predicted = 0;
            for (int i = 0; i < inputs.Length; i++)
                if (diff[i]) for (int j = 0; j < dirs[i]!.Length; j++) predicted += analyticByInput[i]![j] * dirs[i]![j];
            Consider(predicted, numeric, -1 - d, []);
        }

        bool passed = worst.Score <= 1;
        string where = worst.Input >= 0
            ? $"input {worst.Input} at index {Shapes.Format(worst.Index)}"
            : $"random direction {-1 - worst.Input} (Jacobian-vector check)";
        string message = passed
            ? $"GradCheck passed: worst agreement at {where}: analytic {worst.A:G6}, numeric {worst.N:G6}"
            : $"GradCheck failed at {where}: analytic {worst.A:G10}, numeric {worst.N:G10} (atol {o.Atol}, rtol {o.Rtol})";
        return new GradCheckResult(passed, message, worst.Input, worst.Index, worst.A, worst.N);
    }

    /// <summary>Like <see cref="Check"/>, but throws <see cref="GradCheckException"/> naming the worst element when it fails.</summary>
    public static void Assert(Func<Tensor[], Tensor> func, Tensor[] inputs, GradCheckOptions? options = null)
    {
        var result = Check(func, inputs, options);
        if (!result.Passed) throw new GradCheckException(result.Message);
    }

    /// <summary>
    /// Checks second derivatives: the gradient of sum(f(x) * w) (built with createGraph) is itself gradient-checked.
    /// </summary>
    public static GradCheckResult CheckSecondOrder(Func<Tensor[], Tensor> func, Tensor[] inputs, GradCheckOptions? options = null)
    {
        var o = options ?? new GradCheckOptions();
        Tensor FirstGradient(Tensor[] xs)
        {
            var y = func(xs);
            var w = Tensor.Randn(y.Shape, dtype: DType.Float64, generator: new Generator(o.Seed + 1));
            var targets = xs.Where(x => x.RequiresGrad).ToArray();
            var grads = Autograd.Grad((y.To(DType.Float64) * w).Sum(), targets, createGraph: true);
            return Tensor.Concat(grads.Select(g => g.Reshape(-1)).ToArray());
        }
        return Check(FirstGradient, inputs, o);
    }

    /// <summary>
    /// Checks the gradients of <paramref name="func"/> (a closure over model parameters, e.g. a module's loss) with
    /// respect to named Float64 <paramref name="parameters"/>, which are perturbed in place and restored: every element
    /// of tensors up to <paramref name="perTensor"/> elements, an even spread of that many elements of larger ones.
    /// For parameters of a module, which <see cref="Check"/> cannot rebuild as fresh inputs.
    /// <code>GradCheck.CheckParameters(() => layer.Forward(x), layer.NamedParameters())</code>
    /// </summary>
    public static GradCheckResult CheckParameters(Func<Tensor> func, IEnumerable<(string Name, Tensor Parameter)> parameters, int perTensor = int.MaxValue, GradCheckOptions? options = null)
    {
        var o = options ?? new GradCheckOptions();
        var named = parameters.Where(p => p.Parameter.RequiresGrad).DistinctBy(p => p.Parameter, ReferenceEqualityComparer.Instance).ToList();
        if (named.Count == 0) return Fail("GradCheck: no parameter requires grad");
        var notDouble = named.Where(p => p.Parameter.DType != DType.Float64).Select(p => p.Name).FirstOrDefault();
        if (notDouble is not null)
            return Fail($"GradCheck: parameter '{notDouble}' is not Float64; convert the module first (module.To(DType.Float64))");
        var y = func();
        var v = Tensor.Randn(y.Shape, dtype: DType.Float64, generator: new Generator(o.Seed));
        var analytic = Autograd.Grad((y.To(DType.Float64) * v).Sum(), named.Select(p => p.Parameter).ToArray()).Select(g => g.ToArray<double>()).ToArray();
        var vValues = v.ToArray<double>();
        double[] Outputs()
        {
            using (Autograd.NoGrad()) return func().To(DType.Float64).ToArray<double>();
        }
        var worst = (Score: -1.0, Name: "", Index: 0, A: 0.0, N: 0.0);
        for (int k = 0; k < named.Count; k++)
        {
            var (name, p) = named[k];
            var values = p.ToArray<double>();
            int n = values.Length;
            var indices = n <= perTensor ? Enumerable.Range(0, n) : Enumerable.Range(0, perTensor).Select(i => (int)((long)i * n / perTensor + n / perTensor / 2));
            foreach (int j in indices)
            {
                double[] Eval(double delta)
                {
                    var copy = (double[])values.Clone();
                    copy[j] += delta;
                    using (Autograd.NoGrad()) p.CopyFrom(Tensor.FromArray(copy, p.Shape));
                    return Outputs();
                }
                double numeric = ProjectedDifference(Eval(o.Eps), Eval(-o.Eps), vValues, o.Eps);
                using (Autograd.NoGrad()) p.CopyFrom(Tensor.FromArray(values, p.Shape));
                double score = Math.Abs(numeric - analytic[k][j]) / (o.Atol + o.Rtol * Math.Abs(numeric));
                if (double.IsNaN(score)) score = double.PositiveInfinity;
                if (score > worst.Score) worst = (score, name, j, analytic[k][j], numeric);
            }
        }
        bool passed = worst.Score <= 1;
        string message = $"GradCheck {(passed ? "passed" : "failed")}: worst at parameter '{worst.Name}' element {worst.Index}: analytic {worst.A:G10}, numeric {worst.N:G10} (atol {o.Atol}, rtol {o.Rtol})";
        return new GradCheckResult(passed, message, -1, [worst.Index], worst.A, worst.N);
    }

    // sum_j v_j (y+_j - y-_j) / 2 eps. Differencing each output before projecting keeps outputs the perturbation
    // does not touch exactly out of the estimate; projecting first lets large unrelated outputs swamp a small
    // derivative in rounding (sum(y+ . v) - sum(y- . v) cancels catastrophically).
    static double ProjectedDifference(double[] plus, double[] minus, double[] v, double eps)
    {
        double sum = 0;
        for (int j = 0; j < v.Length; j++) sum += v[j] * (plus[j] - minus[j]);
        return sum / (2 * eps);
    }

    static GradCheckResult Fail(string message) => new(false, message, -1, [], double.NaN, double.NaN);

    static int[] Unravel(long flat, long[] strides)
    {
        var index = new int[strides.Length];
        for (int d = 0; d < strides.Length; d++)
        {
            index[d] = (int)(flat / strides[d]);
            flat %= strides[d];
        }
        return index;
    }
}

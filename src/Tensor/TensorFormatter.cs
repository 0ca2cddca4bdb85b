using System.Globalization;
using System.Text;

namespace Engine;

/// <summary>
/// Prints tensors the way PyTorch does: <c>tensor([[1.0000, 2.5000], ...])</c>, one shared number format per tensor
/// (integers as <c>1.</c>, fixed with 4 decimals, or scientific when the range is wide), right-aligned, and
/// abbreviated with <c>...</c> beyond 1000 elements (3 edge items per dimension, as PyTorch's defaults).
/// Non-default dtypes are named as PyTorch names them; abbreviated tensors also show their shape.
/// </summary>
public static class TensorFormatter
{
    const int Threshold = 1000, EdgeItems = 3;

    /// <summary>The PyTorch-style text of a tensor.</summary>
    public static string Format(Tensor t)
    {
        var values = t.ToDoubleArray();
        var shape = t.Shape;
        bool summarize = values.Length > Threshold;
        var shown = summarize ? ShownValues(values, shape) : values;
        var format = ChooseFormat(t.DType, shown);
        int width = shown.Length == 0 ? 0 : shown.Max(v => format(v).Length);

        var sb = new StringBuilder("tensor(");
        if (shape.Length == 0) sb.Append(format(values[0]));
        else AppendDim(sb, values, shape, 0, 0, Shapes.ContiguousStrides(shape), format, width, summarize, indent: 7);
        var extras = new List<string>();
        if (summarize || values.Length == 0 && shape.Length > 1) extras.Add($"shape={Shapes.Format(shape)}");
        if (t.DType is DType.Float64 or DType.Int32) extras.Add($"dtype=torch.{t.DType.Name()}");
        foreach (var e in extras) sb.Append(", ").Append(e);
        sb.Append(')');
        return sb.ToString();
    }

    static void AppendDim(StringBuilder sb, double[] v, int[] shape, int dim, long offset, long[] strides,
        Func<double, string> format, int width, bool summarize, int indent)
    {
        sb.Append('[');
        int n = shape[dim];
        bool cut = summarize && n > 2 * EdgeItems;
        bool last = dim == shape.Length - 1;
        bool first = true;
        for (int i = 0; i < n; i++)
        {
            if (cut && i == EdgeItems)
            {
                sb.Append(last ? ", ..." : "," + new string('\n', shape.Length - dim - 1) + new string(' ', indent + 1) + "...");
                i = n - EdgeItems - 1;
                continue;
            }
            if (!first)
            {
                if (last) sb.Append(", ");
                else sb.Append(',').Append('\n', shape.Length - dim - 1).Append(' ', indent + 1);
            }
            first = false;
            if (last) sb.Append(format(v[offset + i * strides[dim]]).PadLeft(width));
            else AppendDim(sb, v, shape, dim + 1, offset + i * strides[dim], strides, format, width, summarize, indent + 1);
        }
        sb.Append(']');
    }

    // The values PyTorch looks at to pick a format when abbreviating: only the edge items.
    static double[] ShownValues(double[] v, int[] shape)
    {
        var shown = new List<double>();
        var strides = Shapes.ContiguousStrides(shape);
        void Walk(int dim, long offset)
        {
            if (dim == shape.Length) { shown.Add(v[offset]); return; }
            int n = shape[dim];
            for (int i = 0; i < n; i++)
            {
                if (n > 2 * EdgeItems && i == EdgeItems) i = n - EdgeItems;
                Walk(dim + 1, offset + i * strides[dim]);
            }
        }
        Walk(0, 0);
        return shown.ToArray();
    }

    static Func<double, string> ChooseFormat(DType dtype, double[] values)
    {
        var ci = CultureInfo.InvariantCulture;
        if (dtype == DType.Bool) return v => v != 0 ? "True" : "False";
        if (!dtype.IsFloating()) return v => ((long)v).ToString(ci);
        var finite = values.Where(double.IsFinite).Select(Math.Abs).ToArray();
        static string Special(double v) => double.IsNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
        if (finite.Length == 0) return v => double.IsFinite(v) ? v.ToString("0.", ci) : Special(v);
        bool allIntegers = values.Where(double.IsFinite).All(x => x == Math.Floor(x));
        double max = finite.Max(), minNonZero = finite.Where(x => x != 0).DefaultIfEmpty(0).Min();
        if (allIntegers)
        {
            if (max > 1e8) return v => double.IsFinite(v) ? Scientific(v) : Special(v);
            return v => double.IsFinite(v) ? v.ToString("0", ci) + "." : Special(v);
        }
        // PyTorch switches to scientific notation when the dynamic range or the magnitudes are extreme.
        if (minNonZero > 0 && (max / minNonZero > 1000 || max > 1e8 || minNonZero < 1e-4))
            return v => double.IsFinite(v) ? Scientific(v) : Special(v);
        return v => double.IsFinite(v) ? v.ToString("0.0000", ci) : Special(v);
    }

    static string Scientific(double v) => v.ToString("0.0000e+00", CultureInfo.InvariantCulture);
}

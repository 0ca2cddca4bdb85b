using System.Globalization;
using System.Text;

namespace Engine;

/// <summary>
/// Prints tensors the way PyTorch does: <c>tensor([[1.0000, 2.5000], ...])</c>, one shared number format per tensor
/// (integers as <c>1.</c>, fixed with 4 decimals, or scientific when the range is wide), right-aligned, and
/// abbreviated with <c>...</c> beyond 1000 elements (3 edge items per dimension, as PyTorch's defaults).
/// Rows wrap at 80 columns; non-default dtypes are named as PyTorch names them; empty tensors show their size.
/// </summary>
public static class TensorFormatter
{
    const int Threshold = 1000, EdgeItems = 3, LineWidth = 80;

    /// <summary>The highest rank printed element by element; higher ranks print a one-line summary.</summary>
    public const int MaxPrintedRank = 64;

    /// <summary>The PyTorch-style text of a tensor.</summary>
    public static string Format(Tensor t)
    {
        // AppendDim recurses once per dimension; beyond this rank (PyTorch's own limit) only a summary is printed,
        // so no shape from a hostile file can overflow the stack.
        if (t.Rank > MaxPrintedRank)
            return $"tensor(<{t.Numel} elements, rank {t.Rank}: printing shows at most rank {MaxPrintedRank}>, size={Shapes.Format(t.ShapeSpan)}, dtype=torch.{t.DType.Name()})";
        var values = t.ToDoubleArray();
        var shape = t.Shape;
        bool summarize = values.Length > Threshold;
        var shown = summarize ? ShownValues(values, shape) : values;
        var (format, width) = ChooseFormat(t.DType, shown);

        var sb = new StringBuilder("tensor(");
        var extras = new List<string>();
        if (values.Length == 0)
        {
            // As PyTorch: "[]", the size unless 1-D, and the dtype unless it is the default (float32).
            sb.Append("[]");
            if (shape.Length != 1) extras.Add("size=(" + string.Join(", ", shape) + ")");
            if (t.DType != DType.Float32) extras.Add($"dtype=torch.{t.DType.Name()}");
        }
        else
        {
            if (shape.Length == 0) sb.Append(format(values[0]).PadLeft(width));
            else AppendDim(sb, values, shape, 0, 0, Shapes.ContiguousStrides(shape), format, width, summarize, indent: 7);
            if (t.DType is DType.Float64 or DType.Int32) extras.Add($"dtype=torch.{t.DType.Name()}");
        }
        foreach (var e in extras) sb.Append(", ").Append(e);
        sb.Append(')');
        return sb.ToString();
    }

    static void AppendDim(StringBuilder sb, double[] v, int[] shape, int dim, long offset, long[] strides,
        Func<double, string> format, int width, bool summarize, int indent)
    {
        int n = shape[dim];
        bool cut = summarize && n > 2 * EdgeItems;
        if (dim == shape.Length - 1)
        {
            // The last dimension wraps at 80 columns as PyTorch's _vector_str; " ..." counts as one element.
            var items = new List<string>();
            for (int i = 0; i < n; i++)
            {
                if (cut && i == EdgeItems)
                {
                    items.Add(" ...");
                    i = n - EdgeItems - 1;
                    continue;
                }
                items.Add(format(v[offset + i * strides[dim]]).PadLeft(width));
            }
            int perLine = Math.Max(1, (LineWidth - indent) / (width + 2));
            var lines = items.Chunk(perLine).Select(line => string.Join(", ", line));
            sb.Append('[').Append(string.Join(",\n" + new string(' ', indent + 1), lines)).Append(']');
            return;
        }
        sb.Append('[');
        bool first = true;
        for (int i = 0; i < n; i++)
        {
            if (cut && i == EdgeItems)
            {
                sb.Append("," + new string('\n', shape.Length - dim - 1) + new string(' ', indent + 1) + "...");
                i = n - EdgeItems - 1;
                continue;
            }
            if (!first) sb.Append(',').Append('\n', shape.Length - dim - 1).Append(' ', indent + 1);
            first = false;
            AppendDim(sb, v, shape, dim + 1, offset + i * strides[dim], strides, format, width, summarize, indent + 1);
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

    // PyTorch's _Formatter: the width comes from the nonzero finite values only (integers, bools: from all values).
    static (Func<double, string> Format, int Width) ChooseFormat(DType dtype, double[] values)
    {
        var ci = CultureInfo.InvariantCulture;
        if (dtype == DType.Bool) return (v => v != 0 ? "True" : "False", values.Select(v => v != 0 ? 4 : 5).DefaultIfEmpty(1).Max());
        if (!dtype.IsFloating())
        {
            static string Integer(double v) => ((long)v).ToString(CultureInfo.InvariantCulture);
            return (Integer, values.Select(v => Integer(v).Length).DefaultIfEmpty(1).Max());
        }
        static string Special(double v) => double.IsNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
        var nonzero = values.Where(x => double.IsFinite(x) && x != 0).ToArray();
        if (nonzero.Length == 0) return (v => double.IsFinite(v) ? v.ToString("0", ci) + "." : Special(v), 1);
        bool allIntegers = nonzero.All(x => x == Math.Ceiling(x));
        double max = nonzero.Max(Math.Abs), min = nonzero.Min(Math.Abs);
        Func<double, string> format;
        // PyTorch switches to scientific notation when the dynamic range or the magnitudes are extreme.
        if (max / min > 1000 || max > 1e8 || (!allIntegers && min < 1e-4))
            format = v => double.IsFinite(v) ? Scientific(v) : Special(v);
        else if (allIntegers)
            format = v => double.IsFinite(v) ? v.ToString("0", ci) + "." : Special(v);
        else format = v => double.IsFinite(v) ? Fixed(v) : Special(v);
        return (format, Math.Max(1, nonzero.Max(v => format(v).Length)));
    }

    // Python's "{:.4f}": correctly rounded, exact ties to even (.NET rounds them away from zero).
    static string Fixed(double v)
    {
        double scaled = v * 10000;
        if (Math.Abs(scaled) < 1e15 && Math.Abs(scaled - Math.Truncate(scaled)) == 0.5)
            v = Math.Round(scaled, MidpointRounding.ToEven) / 10000;
        return v.ToString("F4", CultureInfo.InvariantCulture);
    }

    // Python's "{:.4e}": the exact decimal expansion rounded to 5 significant digits, ties to even.
    static string Scientific(double v)
    {
        var exact = Math.Abs(v).ToString("E20", CultureInfo.InvariantCulture); // d.dddd...E+xxx, exact digits
        int ePos = exact.IndexOf('E');
        var digits = exact[..ePos].Replace(".", "");
        int exponent = int.Parse(exact[(ePos + 1)..], CultureInfo.InvariantCulture);
        long kept = long.Parse(digits[..5], CultureInfo.InvariantCulture);
        var rest = digits[5..];
        bool tie = rest[0] == '5' && rest[1..].All(c => c == '0');
        if (rest[0] > '5' || (rest[0] == '5' && !tie) || (tie && kept % 2 == 1)) kept++;
        if (kept == 100000) { kept = 10000; exponent++; }
        var m = kept.ToString("00000", CultureInfo.InvariantCulture);
        return (v < 0 || double.IsNegative(v) ? "-" : "") + m[0] + "." + m[1..] + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }
}

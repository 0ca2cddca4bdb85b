namespace Engine.Nn.Merging;

/// <summary>
/// The small conversions the paper merges (PCB, WIDEN, VaRM, SCE) share: which tensors they merge, a tensor's values as
/// doubles (every method computes in double precision), and a result tensor shaped, typed and placed like the base's.
/// </summary>
internal static class MergeValues
{
    /// <summary>
    /// Floating tensors are merged; integer or boolean ones (counters, index buffers) are not weights and are copied from
    /// the base unchanged.
    /// </summary>
    public static bool IsMerged(Tensor t) => t.DType.IsFloating();

    /// <summary>The tensor's elements in row-major order as doubles.</summary>
    public static double[] Of(Tensor t) => t.ToDoubleArray();

    /// <summary>A new tensor holding <paramref name="values"/> with <paramref name="like"/>'s shape, dtype and device.</summary>
    public static Tensor Like(double[] values, Tensor like)
    {
        var t = Tensor.FromArray(values, like.Shape).To(like.DType);
        return t.Device == like.Device ? t : t.To(like.Device);
    }

    /// <summary>The base's tensor copied, for the tensors a method leaves alone.</summary>
    public static Tensor Copy(Tensor t) => t.Detach().Clone();

    /// <summary>θ_i − θ_base of one tensor for every model, as rows of doubles.</summary>
    /// <exception cref="ArgumentException">A NaN or infinite value in the base or a model (named with <paramref name="method"/>).</exception>
    public static double[][] Deltas(string method, string name, IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        var b = Finite(method, name, "the base", Of(baseModel[name]));
        var rows = new double[models.Count][];
        for (int i = 0; i < models.Count; i++)
        {
            var m = Finite(method, name, $"model {i}", Of(models[i][name]));
            for (int k = 0; k < m.Length; k++) m[k] -= b[k];
            rows[i] = m;
        }
        return rows;
    }

    /// <summary>Returns <paramref name="values"/> after checking they are all finite.</summary>
    public static double[] Finite(string method, string name, string owner, double[] values)
    {
        int bad = Array.FindIndex(values, v => !double.IsFinite(v));
        if (bad >= 0) throw new ArgumentException($"{method}: '{name}' of {owner} holds {values[bad]} at flat index {bad}; merging needs finite values");
        return values;
    }
}

namespace Engine.Nn.Merging;

/// <summary>The checks every <see cref="IStateDictMerge"/> runs first, so each method fails the same way on bad input.</summary>
public static class MergeInputs
{
    /// <summary>
    /// Throws unless there is at least one model and every model has exactly the base's tensor names, each with the
    /// base's shape and dtype. <paramref name="method"/> names the merge in the message.
    /// </summary>
    /// <exception cref="ArgumentException">Naming the method, the model's position, the tensor and both shapes.</exception>
    public static void Check(string method, IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        if (models.Count == 0) throw new ArgumentException($"{method}: no models to merge; give at least one fine-tuned state dict");
        for (int i = 0; i < models.Count; i++)
        {
            var model = models[i];
            var missing = baseModel.Keys.Where(k => !model.ContainsKey(k)).ToList();
            var extra = model.Keys.Where(k => !baseModel.ContainsKey(k)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new ArgumentException($"{method}: model {i} does not have the base's tensors (missing [{string.Join(", ", missing.Take(5))}]{(missing.Count > 5 ? ", ..." : "")}; unexpected [{string.Join(", ", extra.Take(5))}]{(extra.Count > 5 ? ", ..." : "")})");
            foreach (var (name, b) in baseModel)
            {
                var t = model[name];
                if (!t.Shape.SequenceEqual(b.Shape) || t.DType != b.DType)
                    throw new ArgumentException($"{method}: '{name}' of model {i} is {t.DType} {Shapes.Format(t.Shape)} but the base's is {b.DType} {Shapes.Format(b.Shape)}");
            }
        }
    }
}

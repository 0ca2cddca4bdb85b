namespace Engine.Nn;

/// <summary>
/// The extra training losses that layers produce during a forward pass (a mixture of experts' load-balancing and router
/// z-losses, Mixture-of-Recursions' router losses), gathered without threading them through every Forward signature:
/// the training step opens a collection, every layer that computes such a loss adds it (already multiplied by its
/// coefficient), and the step adds the total to the task loss. A layer used several times in one pass (a block shared
/// by every depth, WideNet) adds once per use, as the references sum over uses. Outside a collection (evaluation,
/// generation) <see cref="Add"/> does nothing, so inference builds no graph for them. Held per thread; collections nest
/// (the innermost receives).
/// <code>
/// using var aux = AuxiliaryLosses.Collect();
/// var loss = Losses.CrossEntropy(model.Forward(x), y) + aux.Total(x.Device);
/// </code>
/// </summary>
public static class AuxiliaryLosses
{
    [ThreadStatic] static List<Collection>? _open;

    /// <summary>Starts gathering the auxiliary losses of the forward passes run until the collection is disposed.</summary>
    public static Collection Collect()
    {
        var c = new Collection();
        (_open ??= []).Add(c);
        return c;
    }

    /// <summary>True while a collection is open on this thread: layers may skip computing their losses otherwise.</summary>
    public static bool Collecting => _open is { Count: > 0 };

    /// <summary>Adds <paramref name="loss"/> (a scalar, coefficient applied) under <paramref name="name"/> to the innermost open collection.</summary>
    public static void Add(string name, Tensor loss)
    {
        if (_open is not { Count: > 0 } open) return;
        if (loss.Numel != 1) throw new ArgumentException($"AuxiliaryLosses.Add: '{name}' must be a scalar, got {Shapes.Format(loss.Shape)}");
        open[^1].Add(name, loss);
    }

    /// <summary>The losses of one training step, by name (a name added several times keeps the sum).</summary>
    public sealed class Collection : IDisposable
    {
        readonly Dictionary<string, Tensor> _losses = new();

        internal void Add(string name, Tensor loss) =>
            _losses[name] = _losses.TryGetValue(name, out var sum) ? sum + loss.Reshape() : loss.Reshape();

        /// <summary>Each loss name with its summed scalar.</summary>
        public IReadOnlyDictionary<string, Tensor> Losses => _losses;

        /// <summary>The sum of every loss added, or a zero scalar on <paramref name="device"/> when none was.</summary>
        public Tensor Total(Device? device = null)
        {
            Tensor? total = null;
            foreach (var loss in _losses.Values) total = total is null ? loss : total + loss;
            return total ?? Tensor.Zeros([], DType.Float32, device);
        }

        /// <summary>Closes the collection; layers then add to the enclosing one, if any.</summary>
        public void Dispose() => _open?.Remove(this);
    }
}

namespace Engine.Nn;

/// <summary>
/// A list of short texts (one per line, e.g. first names) split into training and validation sets, served as
/// language-model batches: random windows of the boundary-separated token stream, targets shifted by one.
/// </summary>
public sealed class NamesCorpus
{
    readonly int[] _train, _validation;

    /// <summary>Texts are shuffled with <paramref name="seed"/>, then the last <paramref name="validationFraction"/> held out.</summary>
    public NamesCorpus(IReadOnlyList<string> texts, CharTokenizer tokenizer, double validationFraction = 0.1, ulong seed = 0)
    {
        if (texts.Count < 2) throw new ArgumentException($"NamesCorpus: needs at least 2 texts, got {texts.Count}");
        Tokenizer = tokenizer;
        var order = Tensor.Rand([texts.Count], dtype: DType.Float64, generator: new Generator(seed)).ToArray<double>()
            .Select((r, i) => (r, i)).OrderBy(p => p.r).Select(p => texts[p.i]).ToList();
        int nVal = Math.Clamp((int)Math.Round(texts.Count * validationFraction), 1, texts.Count - 1);
        TrainTexts = order.Take(order.Count - nVal).ToList();
        ValidationTexts = order.Skip(order.Count - nVal).ToList();
        _train = Stream(TrainTexts);
        _validation = Stream(ValidationTexts);
    }

    /// <summary>Reads a file of one text per line (blank lines skipped).</summary>
    public static List<string> ReadLines(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"NamesCorpus: no data file at '{path}'", path);
        return File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
    }

    public CharTokenizer Tokenizer { get; }
    public IReadOnlyList<string> TrainTexts { get; }
    public IReadOnlyList<string> ValidationTexts { get; }

    /// <summary>Tokens in the training stream.</summary>
    public int TrainTokens => _train.Length;

    int[] Stream(IEnumerable<string> texts)
    {
        var ids = new List<int> { CharTokenizer.Boundary };
        foreach (var t in texts)
        {
            ids.AddRange(Tokenizer.Encode(t));
            ids.Add(CharTokenizer.Boundary);
        }
        return ids.ToArray();
    }

    /// <summary>A random batch (inputs, targets) of [batch, time] windows from the training or validation stream.</summary>
    public (Tensor Inputs, Tensor Targets) Batch(int batch, int time, Generator generator, bool validation = false)
    {
        var stream = validation ? _validation : _train;
        if (stream.Length < time + 2) throw new ArgumentException($"NamesCorpus: a window of {time + 1} tokens does not fit a stream of {stream.Length}");
        var starts = Tensor.Randint(0, stream.Length - time, [batch], generator: generator).ToArray<long>();
        var x = new long[batch * time];
        var y = new long[batch * time];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
            {
                x[b * time + t] = stream[starts[b] + t];
                y[b * time + t] = stream[starts[b] + t + 1];
            }
        return (Tensor.FromArray(x, [batch, time]), Tensor.FromArray(y, [batch, time]));
    }

    /// <summary>All consecutive [time]-windows of the validation stream, for a deterministic validation loss.</summary>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> ValidationWindows(int batch, int time)
    {
        var s = _validation;
        var starts = Enumerable.Range(0, Math.Max(0, (s.Length - 1) / time)).Select(i => i * time).ToList();
        for (int i = 0; i < starts.Count; i += batch)
        {
            var chunk = starts.Skip(i).Take(batch).ToList();
            var x = new long[chunk.Count * time];
            var y = new long[chunk.Count * time];
            for (int b = 0; b < chunk.Count; b++)
                for (int t = 0; t < time; t++)
                {
                    x[b * time + t] = s[chunk[b] + t];
                    y[b * time + t] = s[chunk[b] + t + 1];
                }
            yield return (Tensor.FromArray(x, [chunk.Count, time]), Tensor.FromArray(y, [chunk.Count, time]));
        }
    }

    /// <summary>
    /// Cross-entropy (nats per token) of the validation stream under the training stream's character frequencies
    /// (add-one smoothed): the baseline a language model must beat.
    /// </summary>
    public double UnigramBaseline()
    {
        var counts = new double[Tokenizer.VocabSize];
        foreach (var id in _train) counts[id]++;
        double total = counts.Sum() + counts.Length;
        double nll = 0;
        for (int i = 1; i < _validation.Length; i++) nll -= Math.Log((counts[_validation[i]] + 1) / total);
        return nll / (_validation.Length - 1);
    }
}

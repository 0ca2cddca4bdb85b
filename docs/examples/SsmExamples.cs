// The two blocks of docs/ssm.md, run by SsmDocTests.
using Engine;
using Engine.Nn;

namespace DocExamples;

public static class SsmExamples
{
    /// <summary>An S4D block, its optimiser and one forward pass.</summary>
    public static (S4DBlock Block, AdamW Optimizer, Tensor Output) Block()
    {
        // doc-begin: ssm-block
        var block = new S4DBlock(channels: 64, stateSize: 64, S4DInit.Inv);   // LayerNorm -> S4D -> GELU -> Linear(H, 2H) -> GLU, residual
        var opt = new AdamW(SsmParamGroups.Build(block, lr: 3e-3, weightDecay: 0.1)); // dt and A: lr min(lr, 1e-3), no weight decay
        var y = block.Forward(Tensor.Randn([2, 1024, 64]));                  // [B, L, H] -> [B, L, H]
        // doc-end: ssm-block
        return (block, opt, y);
    }

    /// <summary>A hybrid GPT (S4D and attention layers) and 50 greedily generated tokens.</summary>
    public static (Gpt Gpt, Tensor Prompt, Tensor Tokens) Hybrid()
    {
        // doc-begin: ssm-hybrid
        var gpt = new Gpt(new GptConfig(VocabSize: 64, ContextLength: 256, DModel: 128, Layers: 4, Heads: 4,
            Mixers: ["s4d", "attention", "s4d", "attention"], S4DStateSize: 64));
        var prompt = Tensor.FromArray(new long[] { 1, 2, 3 }, [1, 3]);                 // [B, T0] token ids
        var tokens = Sampling.Generate(gpt, prompt, 50, new SamplingOptions(Greedy: true)); // KV cache for attention, recurrence for S4D
        // doc-end: ssm-hybrid
        return (gpt, prompt, tokens);
    }
}

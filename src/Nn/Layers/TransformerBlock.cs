
namespace Engine.Nn;

/// <summary>Pre-norm transformer block (GPT-2): x + attn(ln1(x)), then x + mlp(ln2(x)).</summary>
public sealed class TransformerBlock : Module
{
    public TransformerBlock(AttentionOptions attention, int mlpHidden, double layerNormEps = 1e-5, bool geluTanh = true, Generator? generator = null)
    {
        Ln1 = RegisterModule("ln1", new LayerNorm(attention.DModel, layerNormEps));
        Attn = RegisterModule("attn", new MultiHeadAttention(attention, generator));
        Ln2 = RegisterModule("ln2", new LayerNorm(attention.DModel, layerNormEps));
        Mlp = RegisterModule("mlp", new Mlp(attention.DModel, mlpHidden, new GELU(geluTanh), attention.Dropout, generator));
    }

    public LayerNorm Ln1 { get; }
    public MultiHeadAttention Attn { get; }
    public LayerNorm Ln2 { get; }
    public Mlp Mlp { get; }

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, LayerKvCache? cache)
    {
        x = x + Attn.Forward(Ln1.Forward(x), keyPaddingMask, cache);
        return x + Mlp.Forward(Ln2.Forward(x));
    }
}

namespace Engine.Nn;

/// <summary>
/// A residual S4D block as in the reference example (state-spaces/s4, <c>example.py</c>): with pre-norm (default)
/// x + dropout(S4DLayer(LayerNorm(x))), with post-norm LayerNorm(x + dropout(S4DLayer(x))). The layer is
/// S4D → GELU → dropout → Linear(H, 2H) → GLU (<see cref="S4DLayer"/>). Sub-modules: <c>norm</c>, <c>layer</c>.
/// <code>var block = new S4DBlock(64); var y = block.Forward(x); // [B, L, 64]</code>
/// </summary>
public sealed class S4DBlock : Module
{
    /// <summary>A block over <paramref name="channels"/> channels; see <see cref="S4DLayer"/> and <see cref="S4D"/> for the options.</summary>
    public S4DBlock(int channels, int stateSize = 64, S4DInit init = S4DInit.Lin, S4DDiscretization discretization = S4DDiscretization.Zoh,
        bool glu = true, double dropout = 0, bool preNorm = true, double layerNormEps = 1e-5, Generator? generator = null)
    {
        PreNorm = preNorm;
        RegisterModule("norm", new LayerNorm(channels, layerNormEps));
        RegisterModule("layer", new S4DLayer(channels, stateSize, init, discretization, glu, dropout, generator));
        RegisterModule("dropout", new Dropout(dropout, generator));
    }

    /// <summary>True: normalise the layer's input; false: normalise the block's output.</summary>
    public bool PreNorm { get; }

    /// <summary>The LayerNorm.</summary>
    public LayerNorm Norm => Unwrapped<LayerNorm>("norm");

    /// <summary>S4D → GELU → dropout → output projection.</summary>
    public S4DLayer Layer => Unwrapped<S4DLayer>("layer");

    /// <summary>Dropout on the residual branch.</summary>
    public Dropout Dropout => Unwrapped<Dropout>("dropout");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => Forward(x, null);

    /// <summary>x [B, L, H] to [B, L, H]; with a state, x holds only the new positions (step mode).</summary>
    public Tensor Forward(Tensor x, S4DState? state)
    {
        if (PreNorm) return x + Child("dropout").Forward(Layer.Forward(Child("norm").Forward(x), null, state));
        return Child("norm").Forward(x + Child("dropout").Forward(Layer.Forward(x, null, state)));
    }
}

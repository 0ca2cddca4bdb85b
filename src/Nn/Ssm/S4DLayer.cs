namespace Engine.Nn;

/// <summary>
/// The S4D token mixer of the reference implementation (state-spaces/s4, <c>models/s4/s4d.py</c>): <see cref="S4D"/>
/// → GELU → dropout → output projection, the projection being Linear(H, 2H) followed by a GLU (default) or
/// Linear(H, H). Sub-modules: <c>ssm</c> (the S4D parameters) and <c>output</c>. [B, L, H] to [B, L, H].
/// Padding positions (key padding mask) enter the recurrence as zeros, so left padding does not disturb the state.
/// </summary>
public sealed class S4DLayer : Module, ITokenMixer
{
    readonly GELU _activation = new();

    /// <summary>An S4D layer over <paramref name="channels"/> channels; see <see cref="S4D"/> for the SSM options.</summary>
    public S4DLayer(int channels, int stateSize = 64, S4DInit init = S4DInit.Lin, S4DDiscretization discretization = S4DDiscretization.Zoh,
        bool glu = true, double dropout = 0, Generator? generator = null)
    {
        Glu = glu;
        RegisterModule("ssm", new S4D(channels, stateSize, init, discretization, generator: generator));
        RegisterModule("dropout", new Dropout(dropout, generator));
        RegisterModule("output", new Linear(channels, glu ? 2 * channels : channels, true, generator));
    }

    /// <summary>True when the output projection is Linear(H, 2H) + GLU.</summary>
    public bool Glu { get; }

    /// <summary>The state-space layer.</summary>
    public S4D Ssm => Unwrapped<S4D>("ssm");

    /// <summary>Dropout after the activation.</summary>
    public Dropout Dropout => Unwrapped<Dropout>("dropout");

    /// <summary>The output projection.</summary>
    public Linear Output => Unwrapped<Linear>("output");

    /// <inheritdoc />
    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <inheritdoc />
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        if (state is not null and not S4DState)
            throw new ArgumentException($"S4DLayer: expects an S4DState, got {state.GetType().Name}");
        if (keyPaddingMask is not null)
        {
            int t = x.Size(1);
            var mask = keyPaddingMask.Size(1) == t ? keyPaddingMask : keyPaddingMask.Narrow(1, keyPaddingMask.Size(1) - t, t);
            x = Tensor.Where(mask.LogicalNot().Unsqueeze(-1), x, 0.0);
        }
        var y = Child("dropout").Forward(_activation.Forward(Ssm.Forward(x, (S4DState?)state)));
        y = Child("output").Forward(y);
        if (!Glu) return y;
        // GLU (Dauphin et al. 2017): the first half gated by the sigmoid of the second, as torch.nn.GLU.
        int h = Ssm.Channels;
        return y.Narrow(-1, 0, h) * y.Narrow(-1, h, h).Sigmoid();
    }

    /// <inheritdoc />
    public IMixerState CreateState() => new S4DState();
}

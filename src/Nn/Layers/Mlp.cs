
namespace Engine.Nn;

/// <summary>The transformer feed-forward block: Linear (fc) → activation → Linear (proj) → dropout.</summary>
public sealed class Mlp : Module
{
    readonly Module _activation;

    public Mlp(int dModel, int hidden, Module activation, double dropout = 0, Generator? generator = null)
    {
        RegisterModule("fc", new Linear(dModel, hidden, true, generator));
        RegisterModule("proj", new Linear(hidden, dModel, true, generator));
        _activation = activation;
        RegisterModule("dropout", new Dropout(dropout, generator));
    }

    public Linear Fc => Unwrapped<Linear>("fc");
    public Linear Proj => Unwrapped<Linear>("proj");
    public Dropout Dropout => Unwrapped<Dropout>("dropout");

    // The dedicated decoder (GptDecoder) runs only when it knows this function.
    internal Module Activation => _activation;

    public override Tensor Forward(Tensor x) => Child("dropout").Forward(Child("proj").Forward(_activation.Forward(Child("fc").Forward(x))));
}

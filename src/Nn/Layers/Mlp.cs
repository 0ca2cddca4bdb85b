
namespace Engine.Nn;

/// <summary>The transformer feed-forward block: Linear (fc) → activation → Linear (proj) → dropout.</summary>
public sealed class Mlp : Module
{
    readonly Module _activation;

    public Mlp(int dModel, int hidden, Module activation, double dropout = 0, Generator? generator = null)
    {
        Fc = RegisterModule("fc", new Linear(dModel, hidden, true, generator));
        Proj = RegisterModule("proj", new Linear(hidden, dModel, true, generator));
        _activation = activation;
        Dropout = RegisterModule("dropout", new Dropout(dropout, generator));
    }

    public Linear Fc { get; }
    public Linear Proj { get; }
    public Dropout Dropout { get; }

    public override Tensor Forward(Tensor x) => Dropout.Forward(Child("proj").Forward(_activation.Forward(Child("fc").Forward(x))));
}

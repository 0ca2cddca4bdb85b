using static Engine.Peft.Tests.TestSupport;
namespace Engine.Peft.Tests.Elementwise;

/// <summary>Standalone elementwise-family layers in Float64.</summary>
static class ElementwiseTestSupport
{
    /// <summary>A layer of type <typeparamref name="T"/> around a seeded Linear [out, in] with the given adapters added and active, in Float64.</summary>
    public static T Layer<T>(Func<Linear, T> create, int inF, int outF, PeftConfig config, bool bias = true, params string[] names) where T : AdapterLayer =>
        StandaloneLayer(create, inF, outF, config, bias: bias, names: names);

    /// <summary>The output of <paramref name="layer"/> on <paramref name="x"/>, outside autograd.</summary>
    public static double[] Out(Module layer, Tensor x)
    {
        using (Autograd.Autograd.NoGrad()) return layer.Forward(x).ToDoubleArray();
    }
}

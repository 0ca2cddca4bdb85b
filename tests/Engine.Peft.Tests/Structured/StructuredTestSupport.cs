using static Engine.Peft.Tests.TestSupport;
namespace Engine.Peft.Tests.Structured;

/// <summary>Standalone layers of the structured family in Float64, and row-major helpers.</summary>
static class StructuredTestSupport
{
    /// <summary>A layer around a seeded Linear [out, in] with adapter "a" active, in Float64 and evaluation mode.</summary>
    public static T Layer<T>(Func<Linear, T> create, int inF, int outF, PeftConfig config, ulong seed = 3) where T : AdapterLayer =>
        StandaloneLayer(create, inF, outF, config with { Seed = seed }, seed);

    /// <summary>Seeded N(0, 1) values.</summary>
    public static double[] Random(int n, ulong seed) => Tensor.Randn([n], 0, 1, DType.Float64, new Generator(seed)).ToDoubleArray();

    /// <summary>The Frobenius norm of row-major values.</summary>
    public static double Frobenius(double[] m) => Math.Sqrt(m.Sum(v => v * v));
}

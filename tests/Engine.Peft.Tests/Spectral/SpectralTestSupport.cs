using static Engine.Peft.Tests.TestSupport;
namespace Engine.Peft.Tests.Spectral;

/// <summary>Standalone spectral layers in Float64 and helpers the spectral tests share.</summary>
static class SpectralTestSupport
{
    /// <summary>A layer around a seeded Linear [out, in] with adapter "a" active, in Float64, in evaluation mode.</summary>
    public static T Layer<T>(Func<Linear, T> create, int inF, int outF, PeftConfig config) where T : AdapterLayer
    {
        config.ValidateAll();
        return StandaloneLayer(create, inF, outF, config);
    }

    /// <summary>Sets a parameter's values, outside autograd.</summary>
    public static void Set(Tensor parameter, double[] values)
    {
        using (Autograd.Autograd.NoGrad()) parameter.CopyFrom(Tensor.FromArray(values).Reshape(parameter.Shape).To(parameter.DType));
    }

    /// <summary>The naive 2-D DFT of a real [rows, cols] matrix: (real, imaginary) parts of Σ m[r, c] e^(−2πi (u r / rows + v c / cols)).</summary>
    public static (double[] Re, double[] Im) Dft2(double[] m, int rows, int cols)
    {
        var re = new double[rows * cols];
        var im = new double[rows * cols];
        for (int u = 0; u < rows; u++)
            for (int v = 0; v < cols; v++)
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                    {
                        double angle = -2 * Math.PI * ((double)u * r / rows + (double)v * c / cols);
                        re[u * cols + v] += m[r * cols + c] * Math.Cos(angle);
                        im[u * cols + v] += m[r * cols + c] * Math.Sin(angle);
                    }
        return (re, im);
    }

    /// <summary>The rank of a row-major [rows, cols] matrix (Gaussian elimination with partial pivoting).</summary>
    public static int Rank(double[] m, int rows, int cols, double tol = 1e-9) => Lycoris.LycorisTestSupport.Rank(m, rows, cols, tol);
}

using System.Runtime.Intrinsics;
using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// The inlined single-precision exponential of the softmax and GELU kernels against Math.Exp in double: relative error,
/// the underflow cut, zero, the largest supported argument and NaN, at both vector widths.
/// </summary>
public class ExpFloatTests
{
    static float[] Grid()
    {
        var values = new List<float>();
        for (double x = -100; x <= 88.02; x += 0.00731) values.Add((float)x);
        values.AddRange([0f, -0f, -1e-30f, 1e-30f, -87.33f, -87.32f, -87.34f, 88.02f, -0.34657359f, 0.34657359f, float.NegativeInfinity]);
        return values.ToArray();
    }

    static void Check(float x, float e)
    {
        double reference = Math.Exp(x);
        if (x < -87.33f) Assert.True(e == 0f, $"exp({x:G9}) = {e:G9}: below the underflow cut it must be 0");
        else Assert.True(Math.Abs(e - reference) <= 3e-7 * reference, $"exp({x:G9}) = {e:G9}, reference {reference:G9}");
    }

    [Fact]
    public void Sixteen_lanes_match_Math_Exp_to_a_few_ulp()
    {
        if (!Vector512.IsHardwareAccelerated) return; // the 8-lane test below covers the form on this CPU
        var x = Grid();
        int i = 0;
        for (; i + 16 <= x.Length; i += 16)
        {
            var e = ExpFloat.Exp(Vector512.Create(x.AsSpan(i, 16)));
            for (int l = 0; l < 16; l++) Check(x[i + l], e.GetElement(l));
        }
        Assert.True(i > 20000);
    }

    [Fact]
    public void Eight_lanes_match_Math_Exp_to_a_few_ulp()
    {
        var x = Grid();
        for (int i = 0; i < x.Length; i++) Check(x[i], ExpFloat.Exp(Vector256.Create(x[i])).ToScalar());
    }

    [Fact]
    public void Nan_stays_nan_and_exp_of_zero_is_one()
    {
        Assert.True(float.IsNaN(ExpFloat.Exp(Vector256.Create(float.NaN)).ToScalar()));
        Assert.Equal(1f, ExpFloat.Exp(Vector256.Create(0f)).ToScalar());
        if (Vector512.IsHardwareAccelerated)
        {
            Assert.True(float.IsNaN(ExpFloat.Exp(Vector512.Create(float.NaN)).GetElement(3)));
            Assert.Equal(1f, ExpFloat.Exp(Vector512.Create(-0f)).GetElement(0));
        }
    }
}

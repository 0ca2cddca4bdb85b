using Xunit;
using static Engine.Peft.Tests.Laws.LawCases;

namespace Engine.Peft.Tests.Laws;

/// <summary>
/// Laws of the adapted function that every registered method obeys (rows: <see cref="LawCases"/>): exact gradients,
/// the start at the base, merging, disabling, and the same numbers on ILGPU's CPU accelerator.
/// </summary>
public class ForwardLaws
{
    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void Gradients_MatchCentralDifferencesInFloat64(string name)
    {
        var c = Get(name);
        var model = (Gpt)Base().To(DType.Float64);
        var peft = Apply(c, model, (c.GradientCheck ?? c.NonTrivial)());
        Scramble(peft);
        var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList();
        Assert.All(trainable, p => Assert.Equal(DType.Float64, p.Parameter.DType));
        var ids = Ids();
        // d(sum(y * v))/d(theta) for a fixed random v, against central differences on a spread of each tensor's entries.
        GradCheckResult Check() => GradCheck.CheckParameters(() => peft.Forward(ids), trainable, perTensor: 24,
            options: new GradCheckOptions(Eps: 1e-6, Atol: 1e-7, Rtol: 1e-5, Seed: 99));
        if (c.ApproximateGradient)
        {
            // The approximation must be active in training (else this row tests nothing); the law model is in evaluation mode.
            peft.Train();
            Assert.False(Check().Passed, $"{name}: training-mode gradients match central differences, but the method's backward is approximate");
            peft.Eval();
        }
        var result = Check();
        Assert.True(result.Passed, $"{name}: {result.Message}");
    }

    [Theory]
    [MemberData(nameof(StartingAtBase), MemberType = typeof(LawCases))]
    public void FreshAdapter_EqualsTheBaseModel(string name)
    {
        var c = Get(name);
        var expected = Outputs(Base());
        var peft = Apply(c, Base(), c.AtInit());
        if (c.DropsBaseComponents)
        {
            // The truncated base differs from the original; the fresh adapter adds nothing to it.
            Assert.True(MaxDifference(expected, Outputs(peft)) > 1e-4, $"{name}: adding the adapter left the base unchanged");
            using (peft.DisableAdapters()) expected = Outputs(peft);
        }
        AssertClose(expected, Outputs(peft), 1e-6, $"{name} at initialisation");
    }

    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void Merge_KeepsTheOutputAndUnmergeRestoresTheBase_OrThrowsNamingTheMethod(string name)
    {
        var c = Get(name);
        var peft = NonTrivial(c);
        var unmerged = Outputs(peft);
        var state = peft.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        if (!c.Has(AdapterCapabilities.Mergeable))
        {
            var e = Assert.Throws<NotSupportedException>(() => peft.Merge());
            Assert.Contains(c.PeftType, e.Message);
            Assert.Equal(unmerged, Outputs(peft));
            return;
        }
        peft.Merge();
        AssertClose(unmerged, Outputs(peft), 1e-5, $"{name} merged");
        peft.Unmerge();
        foreach (var (key, values) in peft.StateDict()) AssertAbsolute(state[key], values.ToDoubleArray(), 1e-6, $"{name} unmerged {key}");
        var plain = peft.MergeAndUnload();
        Assert.DoesNotContain(plain.NamedModules(), m => m.Module is AdapterLayer);
        AssertClose(unmerged, Outputs(plain), 1e-5, $"{name} merged and unloaded");
    }

    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void DisableAdapters_GivesTheBaseOutput(string name)
    {
        var c = Get(name);
        var model = Base();
        var baseOutput = Outputs(model);
        var peft = NonTrivial(c, model);
        var adapted = Outputs(peft);
        double[] disabled;
        using (peft.DisableAdapters()) disabled = Outputs(peft);
        Assert.Equal(adapted, Outputs(peft));
        // PiSSA and OLoRA leave the residual in the base: disabled, the model computes the residual base (as PEFT's).
        // KaSA leaves the truncated base: disabled, the model computes it (as PEFT's).
        if (!c.MovesBaseWeight && !c.DropsBaseComponents) Assert.Equal(baseOutput, disabled);
        Assert.Equal(Outputs(peft.Unload()), disabled);
    }

    [Theory]
    [MemberData(nameof(Every), MemberType = typeof(LawCases))]
    public void IlgpuCpu_MatchesTheCpu(string name)
    {
        var c = Get(name);
        var peft = NonTrivial(c);
        var cpu = OutputAndGradients(peft, Device.Cpu);
        peft.To(Device.IlgpuCpu);
        Assert.All(peft.Parameters(), p => Assert.Equal(Device.IlgpuCpu, p.Device));
        var ilgpu = OutputAndGradients(peft, Device.IlgpuCpu);
        AssertClose(cpu.Output, ilgpu.Output, 1e-4, $"{name} output");
        Assert.Equal(cpu.Gradients.Count, ilgpu.Gradients.Count);
        for (int i = 0; i < cpu.Gradients.Count; i++) AssertClose(cpu.Gradients[i], ilgpu.Gradients[i], 1e-4, $"{name} gradient {i}");
    }

    // The output on Ids() and the gradients of sum(y * w) (w fixed) with respect to the trainable tensors, in registry order.
    static (double[] Output, List<double[]> Gradients) OutputAndGradients(PeftModel peft, Device device)
    {
        var y = peft.Forward(Ids().To(device));
        var w = Tensor.Randn(y.Shape, 0, 1, y.DType, new Generator(17)).To(device);
        var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).Select(p => p.Parameter).ToArray();
        var grads = Autograd.Autograd.Grad((y * w).Sum(), trainable);
        return (y.To(Device.Cpu).ToDoubleArray(), grads.Select(g => g.To(Device.Cpu).ToDoubleArray()).ToList());
    }

    static void AssertAbsolute(double[] expected, double[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol)) Assert.Fail($"{what}[{i}]: expected {expected[i]:G10}, got {actual[i]:G10} (tol {tol})");
    }
}

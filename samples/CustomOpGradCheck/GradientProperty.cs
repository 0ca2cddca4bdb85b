using Engine;
using Engine.Autograd;
using Engine.Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Samples.CustomOpGradCheck;

/// <summary>What running a property gave: whether every case passed, and FsCheck's report (the shrunk counterexample on failure).</summary>
public sealed record PropertyOutcome(bool Passed, string Report);

/// <summary>
/// The law a binary op's backward must satisfy: for any two broadcastable shapes, any values and any memory layout
/// (transposed, stepped, expanded views), the hand-written gradients equal central finite differences in Float64.
/// </summary>
public static class GradientProperty
{
    /// <summary>Two inputs of broadcastable shapes, each a strided view of a larger tensor.</summary>
    public static Gen<(StridedInput A, StridedInput B)> Operands { get; } =
        TensorGen.BroadcastableShapes(maxRank: 3, maxDim: 4)
            .SelectMany(shapes => Gen.Zip(TensorGen.StridedView(shapes.A), TensorGen.StridedView(shapes.B)));

    /// <summary>Checks <paramref name="op"/> on <paramref name="tests"/> random cases (first and, if asked, second order).</summary>
    public static PropertyOutcome Check(Func<Tensor, Tensor, Tensor> op, int tests = 100, bool secondOrder = false)
    {
        try
        {
            Prop.ForAll(Operands.ToArbitrary(), p =>
            {
                // GradCheck perturbs fresh contiguous copies of its inputs, so the views are taken inside the function.
                Func<Tensor[], Tensor> f = x => op(p.A.View(x[0]), p.B.View(x[1]));
                var first = GradCheck.Check(f, [p.A.Base, p.B.Base]);
                if (!first.Passed) throw new GradCheckException($"{p.A} with {p.B}: {first.Message}");
                if (secondOrder && GradCheck.CheckSecondOrder(f, [p.A.Base, p.B.Base]) is { Passed: false } second)
                    throw new GradCheckException($"{p.A} with {p.B}, second order: {second.Message}");
            }).Check(Config.QuickThrowOnFailure.WithQuietOnSuccess(true).WithMaxTest(tests));
            return new PropertyOutcome(true, $"OK, passed {tests} tests.");
        }
        catch (Exception e)
        {
            // FsCheck's report names the (shrunk) counterexample and the exception; the stack trace adds nothing here.
            var lines = e.Message.Split('\n').TakeWhile(l => !l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
            return new PropertyOutcome(false, string.Join('\n', lines).TrimEnd());
        }
    }
}

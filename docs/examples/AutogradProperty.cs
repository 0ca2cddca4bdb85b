// The FsCheck property of docs/autograd.md ("GradCheck"), run by AutogradDocTests.
// doc-begin: autograd-property
using Engine.Autograd.Testing; using FsCheck; using FsCheck.Fluent;
// doc-end: autograd-property
using Engine.Autograd;

namespace DocExamples;

public static class AutogradProperty
{
    /// <summary>Checks Softsign's hand-written backward on 30 random strided views; throws on the first failure.</summary>
    public static void Run()
    {
        // doc-begin: autograd-property

        var gen = TensorGen.Shape(maxRank: 3).SelectMany(s => TensorGen.StridedView(s, v => TensorGen.Float64(v)));
        Prop.ForAll(gen.ToArbitrary(), input =>
        {
            // GradCheck rebuilds inputs as contiguous leaves, so take the view inside the function.
            var r = GradCheck.Check(x => new Softsign().Apply(input.View(x[0])), [input.Base]);
            if (!r.Passed) throw new Exception($"{input}: {r.Message}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(30));
        // doc-end: autograd-property
    }
}

// The README's "Gradient checks for your own ops" block: a real xunit test of this project.
// doc-begin: readme-gradcheck
using Engine.Autograd; using Engine.Autograd.Testing; using FsCheck; using FsCheck.Fluent;
// doc-end: readme-gradcheck
using Xunit;

namespace DocExamples;

public sealed class SoftsignGradientTests
{
    // doc-begin: readme-gradcheck

    [Fact]
    public void Softsign_MatchesFiniteDifferences() =>
        Prop.ForAll(TensorGen.Shape(maxRank: 3).SelectMany(s => TensorGen.StridedView(s)).ToArbitrary(), input =>
        {
            var r = GradCheck.Check(x => new Softsign().Apply(input.View(x[0])), [input.Base]);   // the view is taken inside f
            Assert.True(r.Passed, r.Message);   // "GradCheck failed at input 0 at index [1,2]: analytic ..., numeric ..."
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(30));
    // doc-end: readme-gradcheck
}

// The custom Function of docs/autograd.md ("Custom functions"), used by the gradient-check examples.
// doc-begin: custom-function
using Engine; using Engine.Autograd;
// doc-end: custom-function

namespace DocExamples;

// doc-begin: custom-function

/// <summary>softsign(x) = x / (1 + |x|), with its derivative written by hand: 1 / (1 + |x|)^2.</summary>
public sealed class Softsign : Function
{
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        ctx.SaveForBackward(inputs[0]);
        return inputs[0] / (inputs[0].Abs() + 1);
    }

    // Written with tensor ops on the saved input, so the backward can itself be differentiated (createGraph: true).
    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput) =>
        [gradOutput / (ctx.SavedTensors[0].Abs() + 1).Square()];
}

// Use it like any op: y = new Softsign().Apply(x); y.Sum().Backward();
// doc-end: custom-function

using Engine;
using Engine.Autograd;

namespace Samples.CustomOpGradCheck;

/// <summary>
/// log(e^a + e^b) of two tensors that broadcast against each other, as a custom <see cref="Function"/> with its
/// backward written by hand: d/da = e^a / (e^a + e^b) = sigmoid(a - b), d/db = sigmoid(b - a) = 1 - sigmoid(a - b).
/// <code>var y = new LogAddExp().Apply(a, b);</code>
/// </summary>
public class LogAddExp : Function
{
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        var (a, b) = (inputs[0], inputs[1]);
        ctx.SaveForBackward(a, b);
        // max(a, b) + log(1 + e^-|a - b|): the same value, and e^x never overflows.
        return a.Maximum(b) + (-(a - b).Abs()).Exp().Log1p();
    }

    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput)
    {
        var (a, b) = (ctx.SavedTensors[0], ctx.SavedTensors[1]);
        var p = (a - b).Sigmoid();
        return [ReduceGradient(gradOutput * p, a.Shape), ReduceGradient(gradOutput * (1 - p), b.Shape)];
    }

    /// <summary>
    /// An input that was broadcast was used once per copy, so its gradient is the sum over the copies: sum the
    /// gradient over the dimensions the broadcast added or stretched from 1.
    /// </summary>
    protected virtual Tensor ReduceGradient(Tensor gradient, int[] inputShape)
    {
        int added = gradient.Rank - inputShape.Length;
        var dims = Enumerable.Range(0, gradient.Rank)
            .Where(d => d < added || (inputShape[d - added] == 1 && gradient.Size(d) != 1)).ToArray();
        return dims.Length == 0 ? gradient : gradient.Sum(dims, keepDim: true).Reshape(inputShape);
    }
}

/// <summary>
/// The classic bug: a backward that forgets to sum a broadcast gradient. It is right whenever both inputs have the
/// same shape, so a unit test on [2, 3] and [2, 3] passes; the property over broadcastable shapes finds it.
/// </summary>
public sealed class LogAddExpWithoutBroadcastReduction : LogAddExp
{
    protected override Tensor ReduceGradient(Tensor gradient, int[] inputShape) => gradient;
}

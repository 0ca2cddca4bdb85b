namespace Engine.Autograd;

/// <summary>What a recorded user op needs to run its backward.</summary>
interface ICustomBackward
{
    Tensor?[] Backward(Tensor gradOutput);
}

/// <summary>Values a custom function keeps from its forward pass for its backward pass (torch's ctx).</summary>
public sealed class FunctionContext
{
    /// <summary>Tensors saved by <see cref="SaveForBackward"/>.</summary>
    public Tensor[] SavedTensors { get; private set; } = [];

    /// <summary>Any other values (shapes, flags, constants) the backward needs.</summary>
    public Dictionary<string, object> Values { get; } = new();

    /// <summary>Keeps tensors for the backward pass.</summary>
    public void SaveForBackward(params Tensor[] tensors) => SavedTensors = tensors;
}

/// <summary>
/// A user-defined differentiable op, like <c>torch.autograd.Function</c>: override <see cref="Forward"/> (runs
/// without recording) and <see cref="Backward"/> (maps the output gradient to one gradient per input, null for
/// inputs without one), then call <see cref="Apply"/>.
/// <code>
/// sealed class Cube : Function {
///     protected override Tensor Forward(FunctionContext ctx, Tensor[] x) { ctx.SaveForBackward(x[0]); return x[0] * x[0] * x[0]; }
///     protected override Tensor?[] Backward(FunctionContext ctx, Tensor g) => [g * 3 * ctx.SavedTensors[0].Square()];
/// }
/// var y = new Cube().Apply(x);
/// </code>
/// </summary>
public abstract class Function
{
    /// <summary>Computes the output from the inputs. Ops inside are not recorded.</summary>
    protected abstract Tensor Forward(FunctionContext ctx, Tensor[] inputs);

    /// <summary>Gradients of the inputs from the gradient of the output. Ops here are recorded when a graph of the backward is requested.</summary>
    protected abstract Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput);

    /// <summary>Runs the op and records it so Backward flows through <see cref="Backward"/>.</summary>
    public Tensor Apply(params Tensor[] inputs)
    {
        var ctx = new FunctionContext();
        Tensor output;
        using (Autograd.NoGrad()) output = Forward(ctx, inputs);
        // A detached alias keeps the record off any tensor the forward returned unchanged (an input, say).
        return Tensor.RecordCustom(output.Detach(), inputs, GetType().Name, new Recorded(this, ctx));
    }

    sealed class Recorded(Function function, FunctionContext ctx) : ICustomBackward
    {
        public Tensor?[] Backward(Tensor gradOutput) => function.Backward(ctx, gradOutput);
    }
}

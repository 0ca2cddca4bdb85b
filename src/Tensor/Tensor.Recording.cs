using Engine.Recording;

namespace Engine;

// The tensor's side of autograd: flags, the producing op's record, the gradient slot. No derivative lives here.
public sealed partial class Tensor
{
    bool _requiresGrad;

    /// <summary>
    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs); results of ops require grad
    /// when any differentiable input does. Only floating tensors can require grad.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (value && !DType.IsFloating())
                throw new InvalidOperationException($"RequiresGrad: only floating tensors can require gradients, this one is {DType.Name()}");
            if (!value && Producer is not null && Producer.Kind != OpKind.NonDifferentiable)
                throw new InvalidOperationException($"RequiresGrad: cannot turn off gradients of a non-leaf tensor (produced by {Producer.Name}); use Detach()");
            _requiresGrad = value;
        }
    }

    /// <summary>The op that produced this tensor when it was recorded (null for leaves and un-recorded results).</summary>
    public OpRecord? Producer { get; private set; }

    /// <summary>True for tensors not produced by a recorded differentiable op.</summary>
    public bool IsLeaf => Producer is null || Producer.Kind == OpKind.NonDifferentiable;

    /// <summary>Accumulated gradient of a leaf after Backward (null until then).</summary>
    public Tensor? Grad { get; set; }

    /// <summary>Whether Backward keeps this non-leaf tensor's gradient in <see cref="Grad"/> (torch's retain_grad).</summary>
    public bool RetainsGrad { get; private set; }

    /// <summary>Asks Backward to store this intermediate tensor's gradient in <see cref="Grad"/>.</summary>
    public Tensor RetainGrad()
    {
        RetainsGrad = true;
        return this;
    }

    /// <summary>The same values, sharing storage, cut from the graph: no gradient flows through the result.</summary>
    public Tensor Detach() => new(Storage, Shape, Strides, Offset);

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor, for fluent construction.</summary>
    public Tensor RequireGrad(bool requires = true)
    {
        RequiresGrad = requires;
        return this;
    }

    /// <summary>
    /// Marks this freshly computed tensor as the output of <paramref name="kind"/> applied to <paramref name="inputs"/>,
    /// when recording is on and an input requires grad, and shows it to the <see cref="OpObserver"/> when one is set
    /// (every op's output passes here, recorded or not). Costs one pass over the inputs otherwise.
    /// </summary>
    internal Tensor Record(OpKind kind, Tensor[] inputs, OpAttributes? attributes = null)
    {
        if (GradMode.IsEnabled)
        {
            bool any = false;
            foreach (var t in inputs) any |= t._requiresGrad;
            if (any)
            {
                Producer = new OpRecord(kind, inputs, attributes ?? OpAttributes.None) { Scope = OpScope.Current };
                _requiresGrad = kind != OpKind.NonDifferentiable;
            }
        }
        if (OpObserver.Current is { } observer)
            observer(new ObservedOp(kind, attributes?.Name ?? kind.ToString(), OpScope.Current, inputs, this));
        return this;
    }

    /// <summary>Records a user-defined op (Engine.Autograd.Function): its inputs and an opaque backward payload.</summary>
    public static Tensor RecordCustom(Tensor output, Tensor[] inputs, string name, object payload)
        => output.Record(OpKind.Custom, inputs, new OpAttributes { Name = name, Payload = payload });

    // Marks an output that depends on grad-requiring inputs but has no derivative, so Backward can say why.
    internal Tensor RecordNonDifferentiable(string name, params Tensor[] inputs)
        => Record(OpKind.NonDifferentiable, inputs, new OpAttributes { Name = name });
}

namespace Engine.Peft.Inserted;

/// <summary>
/// A linear map y = x Wᵀ + b that is either one map shared by every task (weight [out, in], bias [out]) or one map per
/// task (weight [T, out, in], bias [T, out]) applied to each example with that example's task id: the adapters of
/// VL-Adapter's <c>AdapterController</c> (ylsung/VL_adapter <c>VL-T5/src/adapters/adapter_controller.py</c>: one
/// <c>Adapter</c> per task, or the same one under every task with <c>use_single_adapter</c>).
/// </summary>
public sealed class TaskLinear : Module
{
    /// <summary>A shared map (<paramref name="tasks"/> null) or one per task, weights N(0, std²) and biases zero.</summary>
    public TaskLinear(int inFeatures, int outFeatures, int? tasks, double std, DType dtype, Generator generator)
    {
        int[] w = tasks is { } t ? [t, outFeatures, inFeatures] : [outFeatures, inFeatures];
        int[] b = tasks is { } u ? [u, outFeatures] : [outFeatures];
        var weight = Tensor.Zeros(w, dtype);
        if (std > 0) Init.Normal(weight, 0, std, generator);
        RegisterParameter("weight", weight);
        RegisterParameter("bias", Tensor.Zeros(b, dtype));
        PerTask = tasks is not null;
    }

    /// <summary>True when the map has one weight per task.</summary>
    public bool PerTask { get; }

    /// <summary>The weight, [out, in] or [T, out, in].</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>The bias, [out] or [T, out].</summary>
    public Tensor Bias => GetParameter("bias");

    /// <summary>The shared map on x [..., in].</summary>
    public override Tensor Forward(Tensor x) => PerTask
        ? throw new InvalidOperationException("TaskLinear: a per-task map needs the examples' task ids")
        : x.MatMul(Weight.T) + Bias;

    /// <summary>x [B, ..., in]: the shared map, or example b through task <paramref name="taskIds"/>[b]'s map.</summary>
    public Tensor Forward(Tensor x, IReadOnlyList<int>? taskIds)
    {
        if (!PerTask) return Forward(x);
        ArgumentNullException.ThrowIfNull(taskIds);
        int batch = x.Size(0), inF = Weight.Size(2), outF = Weight.Size(1);
        var index = Tensor.FromArray(taskIds.Select(t => (long)t).ToArray()).To(Weight.Device);
        var w = Weight.IndexSelect(0, index).Permute(0, 2, 1);                         // [B, in, out]
        var b = Bias.IndexSelect(0, index).Reshape(batch, 1, outF);                  // [B, 1, out]
        var shape = x.Shape;
        shape[^1] = outF;
        return (x.Reshape(batch, -1, inF).MatMul(w) + b).Reshape(shape);
    }
}

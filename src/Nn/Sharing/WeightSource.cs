namespace Engine.Nn;

/// <summary>
/// A module whose output is a weight matrix [out, in] computed from its parameters (a gather from a shared memory for
/// STABLE-RPS, a mixture of shared atoms for MASA) rather than stored. <see cref="ComputedLinear"/> calls
/// <see cref="Compute"/> once per forward pass and multiplies by the result, so autograd carries the weight's gradient
/// back to whatever the weight is made of. Parameters shared between sources (one memory, one set of atoms) are the same
/// tensor registered in each (see <see cref="Module.TieParameter"/>): the gradient sums over every use and
/// checkpoints store them once.
/// </summary>
public abstract class WeightSource : Module
{
    /// <summary>Rows of the computed weight (the layer's output features).</summary>
    public abstract int OutFeatures { get; }

    /// <summary>Columns of the computed weight (the layer's input features).</summary>
    public abstract int InFeatures { get; }

    /// <summary>The weight [out, in], recorded for autograd (read the parameters through the registry, not cached fields).</summary>
    public abstract Tensor Compute();
}

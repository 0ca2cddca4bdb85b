using ILGPU;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// Reduction operators in double for ILGPU.Algorithms' group reductions. Max and Min propagate NaN like the CPU
/// backend's reductions; the atomic forms (grid-wide reductions) are compare-exchange loops.
/// </summary>
public readonly struct SumDouble : IScanReduceOperation<double>
{
    /// <inheritdoc/>
    public string CLCommand => "add";
    /// <inheritdoc/>
    public double Identity => 0;
    /// <inheritdoc/>
    public double Apply(double first, double second) => first + second;
    /// <inheritdoc/>
    public void AtomicApply(ref double target, double value) => Atomic.Add(ref target, value);
}

/// <summary>NaN-propagating maximum in double (see <see cref="SumDouble"/>).</summary>
public readonly struct MaxDouble : IScanReduceOperation<double>
{
    /// <inheritdoc/>
    public string CLCommand => "max";
    /// <inheritdoc/>
    public double Identity => double.NegativeInfinity;
    /// <inheritdoc/>
    public double Apply(double first, double second) => double.IsNaN(first) || double.IsNaN(second) ? first + second : first > second ? first : second;
    /// <inheritdoc/>
    public void AtomicApply(ref double target, double value)
    {
        double seen = target, current;
        do { current = seen; seen = Atomic.CompareExchange(ref target, current, Apply(current, value)); }
        while (!seen.Equals(current));
    }
}

/// <summary>NaN-propagating minimum in double (see <see cref="SumDouble"/>).</summary>
public readonly struct MinDouble : IScanReduceOperation<double>
{
    /// <inheritdoc/>
    public string CLCommand => "min";
    /// <inheritdoc/>
    public double Identity => double.PositiveInfinity;
    /// <inheritdoc/>
    public double Apply(double first, double second) => double.IsNaN(first) || double.IsNaN(second) ? first + second : first < second ? first : second;
    /// <inheritdoc/>
    public void AtomicApply(ref double target, double value)
    {
        double seen = target, current;
        do { current = seen; seen = Atomic.CompareExchange(ref target, current, Apply(current, value)); }
        while (!seen.Equals(current));
    }
}

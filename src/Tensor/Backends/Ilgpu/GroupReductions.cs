using ILGPU;
using ILGPU.Algorithms.ScanReduceOperations;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// Reduction operators in double for ILGPU.Algorithms' group reductions. Max and Min propagate NaN like the CPU
/// backend's reductions; the atomic forms (grid-wide reductions) are compare-exchange loops.
/// </summary>
public readonly struct SumDouble : IScanReduceOperation<double>
{
    public string CLCommand => "add";
    public double Identity => 0;
    public double Apply(double first, double second) => first + second;
    public void AtomicApply(ref double target, double value) => Atomic.Add(ref target, value);
}

/// <summary>NaN-propagating maximum in double (see <see cref="SumDouble"/>).</summary>
public readonly struct MaxDouble : IScanReduceOperation<double>
{
    public string CLCommand => "max";
    public double Identity => double.NegativeInfinity;
    public double Apply(double first, double second) => double.IsNaN(first) || double.IsNaN(second) ? first + second : first > second ? first : second;
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
    public string CLCommand => "min";
    public double Identity => double.PositiveInfinity;
    public double Apply(double first, double second) => double.IsNaN(first) || double.IsNaN(second) ? first + second : first < second ? first : second;
    public void AtomicApply(ref double target, double value)
    {
        double seen = target, current;
        do { current = seen; seen = Atomic.CompareExchange(ref target, current, Apply(current, value)); }
        while (!seen.Equals(current));
    }
}

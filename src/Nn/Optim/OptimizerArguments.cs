namespace Engine.Nn;

/// <summary>Checks of optimiser hyper-parameters, so a bad value is refused by name at construction, not as NaNs later.</summary>
static class OptimizerArguments
{
    /// <summary>A decay rate in [0, 1).</summary>
    public static void Beta(string optimizer, string name, double value)
    {
        if (!(value >= 0 && value < 1)) throw new ArgumentException($"{optimizer}: {name} must be in [0, 1), got {value}");
    }

    /// <summary>A strictly positive value.</summary>
    public static void Positive(string optimizer, string name, double value)
    {
        if (!(value > 0) || double.IsInfinity(value)) throw new ArgumentException($"{optimizer}: {name} must be positive and finite, got {value}");
    }
}

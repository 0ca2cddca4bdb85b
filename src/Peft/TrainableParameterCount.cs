namespace Engine.Peft;

/// <summary>Parameter counts of an adapted model, as PEFT's <c>print_trainable_parameters</c> reports them.</summary>
/// <param name="Trainable">Elements of the parameters that require grad.</param>
/// <param name="Total">Elements of all parameters (base and adapters).</param>
public readonly record struct TrainableParameterCount(long Trainable, long Total)
{
    /// <summary>Trainable share in percent.</summary>
    public double Percent => Total == 0 ? 0 : 100.0 * Trainable / Total;

    /// <summary>PEFT's line: <c>trainable params: 1,024 || all params: 10,240 || trainable%: 10.0000</c>.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"trainable params: {Trainable:N0} || all params: {Total:N0} || trainable%: {Percent:F4}");
}

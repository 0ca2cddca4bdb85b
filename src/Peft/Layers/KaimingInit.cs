namespace Engine.Peft;

/// <summary>
/// PEFT's usual reset of an adapter factor, <c>nn.init.kaiming_uniform_(w, a=math.sqrt(5))</c> on a [rows, cols]
/// tensor: U(±1/sqrt(cols)), as nn.Linear's own weight init (LoHa, LoKr, DeLoRA, GraLoRA, MiSS's random start).
/// </summary>
internal static class KaimingInit
{
    /// <summary>A [<paramref name="rows"/>, <paramref name="cols"/>] tensor drawn from U(±1/sqrt(cols)) with <paramref name="generator"/>.</summary>
    public static Tensor Uniform(int rows, int cols, DType dtype, Generator generator) =>
        Init.KaimingUniform(Tensor.Zeros([rows, cols], dtype), Math.Sqrt(5), generator: generator);
}

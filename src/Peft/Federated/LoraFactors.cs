namespace Engine.Peft.Federated;

/// <summary>
/// The two LoRA factors of one adapted layer as a federated client sends them and the server broadcasts them: B
/// [out, r] and A [r, in], so that the layer's update is s·B·A (s, the adapter's scale, is the same on every client and
/// is left out here). The tensors are detached copies, never the model's parameters.
/// </summary>
/// <param name="B">The up factor [out, r] (PEFT's <c>lora_B.weight</c>).</param>
/// <param name="A">The down factor [r, in] (PEFT's <c>lora_A.weight</c>).</param>
public sealed record LoraFactors(Tensor B, Tensor A)
{
    /// <summary>B·A [out, in] in Float64: the update without its scale.</summary>
    public Tensor Product() => B.To(DType.Float64) % A.To(DType.Float64);

    /// <summary>Throws unless B is [out, r] and A is [r, in] with the same r.</summary>
    public void CheckShapes(string op)
    {
        if (B.Rank != 2 || A.Rank != 2 || B.Size(1) != A.Size(0))
            throw new ArgumentException($"{op}: LoRA factors need B [out, r] and A [r, in], got B {Shapes.Format(B.Shape)} and A {Shapes.Format(A.Shape)}");
    }
}

namespace Engine.Peft;

/// <summary>
/// A tensor an adapter will hold, known from its configuration and the model before anything is allocated: the file
/// key (a layer's suffix such as <c>lora_A.weight</c>, or the full key once <see cref="PeftModel"/> has placed it) and
/// the shape. Loading compares these with a file's header, so a config that asks for a rank of a million is rejected
/// before a byte of the adapter exists.
/// </summary>
/// <param name="Key">The file key.</param>
/// <param name="Shape">The shape.</param>
public sealed record PlannedTensor(string Key, int[] Shape);

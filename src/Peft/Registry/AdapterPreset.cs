namespace Engine.Peft;

/// <summary>
/// What a job tells a method's preset (<c>static Preset(AdapterPreset)</c> on its config): the size knob of the CLI's
/// <c>--rank</c> (a rank, a number of virtual tokens, a bottleneck width: each method decides what it means), the
/// training length (for schedules), a seed, and the job's modules by role.
/// </summary>
/// <param name="Size">The CLI's <c>--rank</c>.</param>
/// <param name="Steps">Training steps.</param>
/// <param name="Seed">Seed of the adapter's random initialisation.</param>
/// <param name="Linears">Every projection of the model's blocks (attention input and output, feed-forward in and out).</param>
/// <param name="FeedForwardOutputs">The second feed-forward projection (IA3 scales its input).</param>
/// <param name="AttentionInputs">Projections that produce keys and values (IA3 scales their output).</param>
/// <param name="SublayerOutputs">Output projections of attention and feed-forward (bottleneck adapters follow them).</param>
public sealed record AdapterPreset(int Size, int Steps, ulong Seed, ModuleSelector Linears, ModuleSelector FeedForwardOutputs,
    ModuleSelector AttentionInputs, ModuleSelector SublayerOutputs)
{
    /// <summary>The roles of the engine's <see cref="Gpt"/> and <see cref="TransformerEncoderClassifier"/> blocks.</summary>
    public static AdapterPreset ForTransformer(int size, int steps, ulong seed) => new(size, steps, seed,
        ["qkv", "attn.proj", "mlp.fc", "mlp.proj"], ["mlp.proj"], ["qkv"], ["attn.proj", "mlp.proj"]);

    /// <summary>
    /// The roles of Hugging Face's BertModel layers (<see cref="Bert"/>), by PEFT's target names for BERT: every
    /// projection of a layer (<c>query</c>, <c>key</c>, <c>value</c>, the two <c>output.dense</c> and
    /// <c>intermediate.dense</c>; not the pooler), and for IA3 PEFT's own mapping (keys, values, <c>output.dense</c>).
    /// </summary>
    public static AdapterPreset ForBert(int size, int steps, ulong seed) => new(size, steps, seed,
        ["query", "key", "value", "output.dense", "intermediate.dense"], ["output.dense"], ["key", "value"], ["output.dense"]);
}

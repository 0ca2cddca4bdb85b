namespace Engine.Peft.Prompt;

/// <summary>
/// The input side shared by the methods that place virtual token embeddings P [n, width] before the input's token
/// embeddings (P-tuning's encoder output, CPT's context): the forward through <see cref="IPromptableModel"/> (the
/// output covers the real tokens only) and the decoding cache that starts with P, as PEFT's
/// <c>PeftModelForCausalLM.forward</c> and <c>generate</c> do for them.
/// </summary>
public static class VirtualTokenInput
{
    /// <summary>The model of <paramref name="context"/> as an <see cref="IPromptableModel"/>; <paramref name="method"/> names the caller in the message.</summary>
    public static IPromptableModel Model(AdapterModelPartContext context, string method) => context.Model.Model as IPromptableModel
        ?? throw new NotSupportedException($"{method}: needs a model that implements IPromptableModel; {context.Model.Model.GetType().Name} does not");

    /// <summary>P [n, width] repeated over <paramref name="batch"/> rows: [batch, n, width].</summary>
    public static Tensor Batched(Tensor prompt, int batch) => prompt.Unsqueeze(0).Expand(batch, prompt.Size(0), prompt.Size(1));

    /// <summary>The model on [P; embeddings of <paramref name="input"/>], the output of the real tokens.</summary>
    public static Tensor Forward(PeftModel model, Tensor input, Tensor prompt) =>
        ((IPromptableModel)model.Model).ForwardWithPrompt(input, Batched(prompt, input.Size(0)));

    /// <summary>A cache for <paramref name="batch"/> rows that already holds P's positions.</summary>
    public static KvCache CreateCache(PeftModel model, Tensor prompt, int batch, string method) => StartCache(model, Batched(prompt, batch), method);

    /// <summary>
    /// A cache that already holds the positions of <paramref name="prompts"/> [batch, n, width], one prompt per row
    /// (the same for every row, or each example's own, as multitask prompt tuning's).
    /// </summary>
    public static KvCache StartCache(PeftModel model, Tensor prompts, string method)
    {
        var causal = model.Model as IKvCacheModel
            ?? throw new NotSupportedException($"{method}: generation needs a model that implements IKvCacheModel; {model.Model.GetType().Name} does not");
        var cache = causal.CreateCache();
        causal.ForwardEmbeddings(prompts, cache);
        return cache;
    }
}

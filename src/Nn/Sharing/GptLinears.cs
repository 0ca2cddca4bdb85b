namespace Engine.Nn;

/// <summary>One weight matrix of a GPT block that a sharing method can replace: its layer, its kind, where it is registered.</summary>
/// <param name="Layer">The block index.</param>
/// <param name="Kind"><c>qkv</c>, <c>o</c> (attention output), <c>fc</c> or <c>proj</c> (MLP).</param>
/// <param name="Parent">The module that registers it (the attention or the MLP).</param>
/// <param name="Name">Its name in <paramref name="Parent"/>.</param>
/// <param name="Module">The registered module (a <see cref="Linear"/> before any sharing is applied).</param>
public sealed record GptLinear(int Layer, string Kind, Module Parent, string Name, Module Module)
{
    /// <summary>The registered module as a plain Linear.</summary>
    /// <exception cref="InvalidOperationException">It is something else (already shared, or an adapter's wrapper).</exception>
    public Linear Linear => Module as Linear
        ?? throw new InvalidOperationException($"GptLinears: layer {Layer} '{Kind}' is a {Module.GetType().Name}, not a plain Linear (apply sharing before adapters, once)");

    /// <summary>Puts <paramref name="replacement"/> where the Linear was.</summary>
    public void Replace(Module replacement) => Parent.ReplaceModule(Name, replacement);
}

/// <summary>
/// The block Linears of a <see cref="Gpt"/> in parameter order (per block: attention <c>qkv</c>, attention <c>proj</c>,
/// MLP <c>fc</c>, MLP <c>proj</c>): the matrices STABLE-RPS roasts and MASA shares. Embeddings, LayerNorms and the
/// (tied or untied) head are not listed. Blocks whose token mixer is not attention contribute only their MLP.
/// </summary>
public static class GptLinears
{
    /// <summary>Every block Linear of <paramref name="model"/>, optionally only the kinds in <paramref name="kinds"/>.</summary>
    public static List<GptLinear> Of(Gpt model, IReadOnlyCollection<string>? kinds = null)
    {
        var list = new List<GptLinear>();
        var blocks = model.Blocks;
        for (int l = 0; l < blocks.Count; l++)
        {
            var block = blocks[l];
            if (block.MixerName == TokenMixers.AttentionSlot)
            {
                var attn = block.Attn;
                list.Add(Entry(l, "qkv", attn, "qkv"));
                list.Add(Entry(l, "o", attn, "proj"));
            }
            list.Add(Entry(l, "fc", block.Mlp, "fc"));
            list.Add(Entry(l, "proj", block.Mlp, "proj"));
        }
        return kinds is null ? list : list.Where(e => kinds.Contains(e.Kind)).ToList();
    }

    static GptLinear Entry(int layer, string kind, Module parent, string name) =>
        new(layer, kind, parent, name, parent.Children().First(c => c.Name == name).Module);
}

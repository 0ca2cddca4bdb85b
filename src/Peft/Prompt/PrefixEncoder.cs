namespace Engine.Peft.Prompt;

/// <summary>
/// Produces prefix tuning's virtual keys and values, [n, layers * 2 * kv width]: a trainable table, or with
/// <see cref="Projection"/> a table [n, width] passed through Linear → tanh → Linear (Li and Liang 2021, section 4.3,
/// the reparameterisation that stabilises training). PEFT's <c>PrefixEncoder</c>.
/// </summary>
public sealed class PrefixEncoder : Module
{
    /// <summary>An encoder for <paramref name="virtualTokens"/> positions of a model with <paramref name="layers"/> layers.</summary>
    public PrefixEncoder(int virtualTokens, int layers, int kvWidth, int width, bool projection, int hiddenSize, Generator? generator)
    {
        Projection = projection;
        int outWidth = layers * 2 * kvWidth;
        var table = Tensor.Zeros(virtualTokens, projection ? width : outWidth);
        Init.Normal(table, 0, 1, generator);
        RegisterParameter("embedding", table);
        if (projection)
            RegisterModule("transform", new Sequential(new Linear(width, hiddenSize, true, generator), new Tanh(), new Linear(hiddenSize, outWidth, true, generator)));
    }

    /// <summary>True when the prefixes come from the MLP.</summary>
    public bool Projection { get; }

    /// <summary>The trainable table.</summary>
    public Tensor Embedding => GetParameter("embedding");

    /// <summary>The prefixes [n, layers * 2 * kv width].</summary>
    public Tensor Forward() => Projection ? Child("transform").Forward(Embedding) : Embedding;
}

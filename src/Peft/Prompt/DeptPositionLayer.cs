namespace Engine.Peft.Prompt;

/// <summary>
/// Where DePT's position-wise update reaches the model: a wrapper of the learned position embedding that adds
/// <see cref="Dept.PositionUpdate"/> of the active DePT adapters to its rows. The reference adds c·(A·B) to the token
/// embeddings E of the (padded) input; GPT-style models add the position embedding to the token embedding before
/// anything else, so adding it at position m + j is the same input — and it holds in cached decoding, where the
/// model passes the absolute positions (P's m first) and no token embedding sees its position. No tensors of its own
/// (A and B belong to the model part); not mergeable.
/// </summary>
public sealed class DeptPositionLayer : AdapterLayer
{
    /// <summary>Wraps the position embedding <paramref name="baseLayer"/>.</summary>
    public DeptPositionLayer(Embedding baseLayer) : base(baseLayer) { }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) => [];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context) =>
        SetState(context.Name, context.ModelPart as Dept ?? throw new InvalidOperationException("DeptPositionLayer: adapter needs its DePT model part"));

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseModule.Forward(input);
        foreach (var name in adapters) result = result + State<Dept>(name).PositionUpdate(input).To(result.DType);
        return result;
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "DePT's update is a table over input positions, not a change of the position embedding's weights, and its prompt is an input";
}

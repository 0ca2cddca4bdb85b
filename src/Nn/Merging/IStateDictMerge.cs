namespace Engine.Nn.Merging;

/// <summary>
/// One method of merging models fine-tuned from one base into a single model (task arithmetic, TIES, DARE, PCB,
/// WIDEN, FuseChat's VaRM and SCE; issue 20). It takes state dicts, not modules, and keeps no adapter state: the result
/// has the base's names and shapes and loads into the base's architecture with <see cref="Module.LoadStateDict"/>.
/// </summary>
public interface IStateDictMerge
{
    /// <summary>The method's name as <c>engine merge --method</c> reads it (lower case: <c>ties</c>, <c>dare_linear</c>).</summary>
    string Name { get; }

    /// <summary>
    /// The merged state dict of <paramref name="models"/>, all fine-tuned from <paramref name="baseModel"/> (the
    /// pretrained or pivot model the task vectors are taken from). Inputs are not changed; the result holds new tensors.
    /// </summary>
    /// <exception cref="ArgumentException">No models, or names, shapes or dtypes that differ (see <see cref="MergeInputs.Check"/>).</exception>
    Dictionary<string, Tensor> Merge(IReadOnlyDictionary<string, Tensor> baseModel, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models);
}

namespace Engine.Peft;

/// <summary>
/// A method whose files hold some tensors in another form than the adapter does (VB-LoRA's
/// <c>save_only_topk_weights</c>: top-k indices and weights instead of logits), or whose files may lack a piece that
/// cannot be rebuilt (UniLoRA's indices without <c>save_indices</c>): implemented by the method's configuration, so
/// <see cref="AdapterFiles.Load"/> can check a file's header against the file form before anything is allocated, and
/// refuse a file that lacks what the engine cannot rebuild with a message naming the field. Saving the other way is
/// <see cref="ISaveTransform"/>.
/// </summary>
public interface IFileFormReader
{
    /// <summary>
    /// The tensors a file of this configuration holds, from <paramref name="plan"/> (what the adapter holds, under
    /// full file keys) and the keys the file has (<paramref name="fileKeys"/>, to tell which form it uses).
    /// </summary>
    /// <exception cref="InvalidDataException">The file lacks a tensor the engine cannot rebuild; the message names it.</exception>
    /// <exception cref="NotSupportedException">The file's form cannot be used as asked (for training, say).</exception>
    IReadOnlyList<PlannedTensor> FileForm(IReadOnlyList<PlannedTensor> plan, IReadOnlySet<string> fileKeys);

    /// <summary>The adapter's tensors under the keys of <paramref name="plan"/>, from a file's tensors in the form <see cref="FileForm"/> gave.</summary>
    Dictionary<string, Tensor> FromFileForm(Dictionary<string, Tensor> file, IReadOnlyList<PlannedTensor> plan);
}

namespace Engine.Peft.SharedBank;

/// <summary>
/// VB-LoRA's top-k admixture (Li et al. 2024, equation 3; PEFT's <c>_get_low_rank_matrix</c>): each row of logits
/// [..., N] picks its k largest entries, and the sub-vector is the softmax of those k logits weighting the picked rows
/// of the bank [N, L]. The choice carries no gradient; the weights and the bank do. Also the file form of
/// <c>save_only_topk_weights</c> (PEFT's <c>_get_adapter_state_dict</c> / <c>_remap_adapter_state_dict_for_load</c>):
/// <c>&lt;logits key&gt;_topk_indices</c> and <c>_topk_weights</c> (the first k - 1 softmax weights; the last is
/// 1 minus their sum), turned back into logits log(w) at the indices and -inf elsewhere.
/// </summary>
public static class VbLoraTopK
{
    /// <summary>Suffix of the indices' file key.</summary>
    public const string IndicesSuffix = "_topk_indices";

    /// <summary>Suffix of the weights' file key.</summary>
    public const string WeightsSuffix = "_topk_weights";

    /// <summary>True for the file key of a layer's logits.</summary>
    public static bool IsLogits(string key) => key.EndsWith(".vblora_logits_A", StringComparison.Ordinal) || key.EndsWith(".vblora_logits_B", StringComparison.Ordinal);

    /// <summary>The two tensors that stand for planned logits <paramref name="logits"/> [..., N] in a top-<paramref name="k"/> file.</summary>
    public static IEnumerable<PlannedTensor> FilePlan(PlannedTensor logits, int k)
    {
        var rows = logits.Shape[..^1];
        yield return new(logits.Key + IndicesSuffix, [.. rows, k]) { Integer = true, IndexBound = logits.Shape[^1] };
        yield return new(logits.Key + WeightsSuffix, [.. rows, k - 1]);
    }

    /// <summary>The positions of the <paramref name="k"/> largest entries of each last-dimension row, largest first (torch.topk), Int64 on the logits' device.</summary>
    public static Tensor Indices(Tensor logits, int k)
    {
        int n = logits.Size(-1);
        var values = logits.Detach().To(Device.Cpu).ToDoubleArray();
        int rows = values.Length / n;
        var picked = new long[rows * k];
        var best = new int[k];
        for (int row = 0; row < rows; row++)
        {
            int offset = row * n, count = 0;
            // Insertion into the k best so far, largest first; an equal value keeps the earlier position first.
            for (int j = 0; j < n; j++)
            {
                double v = values[offset + j];
                if (count == k && !(v > values[offset + best[k - 1]])) continue;
                int at = Math.Min(count, k - 1);
                while (at > 0 && v > values[offset + best[at - 1]]) { best[at] = best[at - 1]; at--; }
                best[at] = j;
                if (count < k) count++;
            }
            for (int j = 0; j < k; j++) picked[row * k + j] = best[j];
        }
        return Tensor.FromArray(picked, [.. logits.Shape[..^1], k]).To(logits.Device);
    }

    /// <summary>The sub-vectors [..., L] of logits [..., N] over <paramref name="bank"/> [N, L] with top-<paramref name="k"/>.</summary>
    public static Tensor Admix(Tensor logits, Tensor bank, int k)
    {
        var index = Indices(logits, k);
        var weights = logits.Gather(-1, index).Softmax(-1);
        var picked = bank.IndexSelect(0, index.Reshape(-1)).Reshape([.. index.Shape, bank.Size(1)]);
        return (weights.Unsqueeze(-1) * picked).Sum(-2);
    }

    /// <summary>The file form of <paramref name="logits"/>: top-k indices (Int32) and the first k - 1 softmax weights.</summary>
    public static (Tensor Indices, Tensor Weights) ToFileForm(Tensor logits, int k)
    {
        var index = Indices(logits, k);
        var weights = logits.Gather(-1, index).Softmax(-1).Narrow(-1, 0, k - 1).Contiguous();
        return (index.To(DType.Int32), weights);
    }

    /// <summary>Logits [..., N] from a file's indices [..., k] and weights [..., k - 1]: log w at the indices, -inf elsewhere.</summary>
    /// <exception cref="InvalidDataException">The weights are not a part of a probability vector (named by <paramref name="key"/>).</exception>
    public static Tensor LogitsFrom(Tensor indices, Tensor weights, int n, string key)
    {
        int k = indices.Size(-1);
        var idx = indices.To(DType.Int64).ToArray<long>();
        // Float32 throughout, as PEFT's remapping computes it.
        var w = weights.To(DType.Float32).ToArray<float>();
        int rows = idx.Length / k;
        var logits = new float[rows * n];
        Array.Fill(logits, float.NegativeInfinity);
        for (int row = 0; row < rows; row++)
        {
            float sum = 0;
            for (int j = 0; j < k - 1; j++)
            {
                float wj = w[row * (k - 1) + j];
                if (!(wj >= 0 && wj <= 1)) throw new InvalidDataException($"VB-LoRA: '{key}{WeightsSuffix}' holds {wj} in row {row}; top-k weights lie in [0, 1]");
                sum += wj;
                logits[row * n + idx[row * k + j]] = MathF.Log(wj);
            }
            float last = 1 - sum;
            if (!(last >= 0)) throw new InvalidDataException($"VB-LoRA: '{key}{WeightsSuffix}' row {row} sums to {sum} > 1; the k - 1 saved weights of a softmax sum to at most 1");
            logits[row * n + idx[row * k + k - 1]] = MathF.Log(last);
        }
        return Tensor.FromArray(logits, [.. indices.Shape[..^1], n]);
    }
}

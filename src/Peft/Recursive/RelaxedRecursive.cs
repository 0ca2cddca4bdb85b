using Engine.Nn;
using Engine.Peft.LowRank;

namespace Engine.Peft.Recursive;

/// <summary>Settings of <see cref="RelaxedRecursive.Convert"/>.</summary>
/// <param name="Loops">Recursions N_r: the L layers become L / N_r unique blocks looped N_r times.</param>
/// <param name="Rank">Rank r of each depth's LoRA (the relaxation); 0 keeps the strictly tied model.</param>
/// <param name="Pattern">Which unique block each depth uses (the paper's CYCLE by default).</param>
/// <param name="Init">How the shared block is made from the dense layers (Average: the third-party reference's default).</param>
/// <param name="Alpha">LoRA α (scale s = α / r); null means α = r, s = 1.</param>
public sealed record RelaxedRecursiveOptions(int Loops, int Rank, TyingPattern Pattern = TyingPattern.Cycle, TiedInit Init = TiedInit.Average, double? Alpha = null);

/// <summary>
/// Relaxed Recursive Transformers (Bae et al. 2024, arXiv 2410.20672; spec adapters-lowrank.md section 14; third-party
/// avramdj/rrt-lora <c>model.py</c>, ahmedtaha100/RRT <c>src/conversion</c>): a trained dense GPT becomes a recursive one
/// whose depths share the weights of a few unique blocks (<see cref="LayerTying"/>), and each depth gets its own LoRA
/// on every block Linear, initialised from the truncated SVD of that depth's residual R_l = W_l − W'_k(l):
/// B_l = U_r Σ_r / s, A_l = V_rᵀ (divided by s so that s·B_l A_l is exactly the rank-r part of R_l). At full rank the
/// converted model is the dense one; at rank r each weight is the best rank-r approximation of its layer (Eckart–Young).
/// The LoRA goes through the adapter framework (PEFT's LoRA layout: the adapter saves and loads as any LoRA); the tied
/// weights, and the per-depth biases and LayerNorms, stay trainable for the paper's uptraining. The biases and norms are
/// not tied: the low-rank relaxation cannot carry their residuals, and they are O(d) per depth (the engine's choice, so
/// the full-rank oracle holds). Merging is refused: one depth's update would change every depth sharing the weight.
/// </summary>
public static class RelaxedRecursive
{
    /// <summary>The block Linears that are tied and relaxed (GPT-2's c_attn, c_proj, c_fc, c_proj).</summary>
    public static readonly string[] TargetModules = ["qkv", "proj", "fc"];

    /// <summary>
    /// Converts <paramref name="dense"/> in place (its blocks are tied) and returns it wrapped with the per-depth LoRA
    /// (<paramref name="options"/>.Rank &gt; 0) or null for the strictly tied model (rank 0).
    /// </summary>
    /// <exception cref="ArgumentException">The layers are not a multiple of the loops, or the rank exceeds a weight's smaller side.</exception>
    public static PeftModel<Gpt>? Convert(Gpt dense, RelaxedRecursiveOptions options, Generator? generator = null)
    {
        var blocks = dense.Blocks;
        var blockOf = LayerTying.BlockOf(options.Pattern, blocks.Count, options.Loops);
        int maxRank = MinSide(blocks[0]);
        if (options.Rank < 0 || options.Rank > maxRank)
            throw new ArgumentException($"RelaxedRecursive: rank {options.Rank} must be between 0 and the smallest weight side {maxRank}");
        // Each depth's dense weights, before tying replaces them by the shared values.
        var original = new Dictionary<string, Tensor>();
        foreach (var (name, p) in dense.NamedParameters())
            if (IsTargetWeight(name)) original[name] = p.Detach().Clone();
        LayerTying.Tie(blocks, blockOf, options.Init, tieNorms: false, generator, tieBiases: false);
        foreach (var p in dense.Parameters()) p.RequiresGrad = true;
        if (options.Rank == 0) return null;

        double alpha = options.Alpha ?? options.Rank;
        var peft = Peft.Apply(dense, new LoraConfig { R = options.Rank, LoraAlpha = alpha, TargetModules = ModuleSelector.Create(TargetModules) });
        double scaling = alpha / options.Rank;
        using (Autograd.Autograd.NoGrad())
            foreach (var (path, layer) in peft.AdapterLayers())
            {
                if (layer is not LoraLayer lora) continue;
                var residual = original[path + ".weight"] - lora.BaseLayer.Weight.Detach();
                var (u, s, vh) = WeightSvd.Principal(residual, options.Rank);
                lora.LoraB("default").CopyFrom(u * s.Unsqueeze(0) / scaling);
                lora.LoraA("default").CopyFrom(vh);
            }
        // Uptraining trains the shared weights too, not only the adapters.
        foreach (var (name, p) in dense.NamedParameters()) if (name.StartsWith("blocks.")) p.RequiresGrad = true;
        return peft;
    }

    /// <summary>
    /// A plain <see cref="Gpt"/> tied as <paramref name="options"/> ties, holding the base of <paramref name="peft"/>
    /// (the shared weights as uptraining left them, the per-depth biases and norms): what a checkpoint stores, each
    /// shared tensor once. The adapter is saved beside it in PEFT's layout and loads onto it.
    /// </summary>
    public static Gpt TiedBase(PeftModel<Gpt> peft, RelaxedRecursiveOptions options)
    {
        var gpt = new Gpt(peft.Model.Config, new Generator(0));
        LayerTying.Tie(gpt.Blocks, LayerTying.BlockOf(options.Pattern, gpt.Blocks.Count, options.Loops), TiedInit.Lower, tieNorms: false, tieBiases: false);
        gpt.LoadStateDict(peft.BaseStateDict());
        return gpt;
    }

    static bool IsTargetWeight(string name) =>
        name.StartsWith("blocks.") && name.EndsWith(".weight") && TargetModules.Any(t => name.EndsWith($".{t}.weight"));

    static int MinSide(Module block) => block.NamedParameters().Where(p => IsTargetWeight("blocks.0." + p.Name)).Min(p => Math.Min(p.Parameter.Size(0), p.Parameter.Size(1)));
}

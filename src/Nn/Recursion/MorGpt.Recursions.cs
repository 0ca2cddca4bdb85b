namespace Engine.Nn;

// The recursive section: the routers' decisions and the shared stack applied to the tokens each step keeps.
public sealed partial class MorGpt
{
    // Expert choice (reference expert_choice_router.py): step r scores the survivors of step r − 1, keeps its top k
    // (or, in the causal inference path, those with σ(z) ≥ 0.5), runs Bk on them and scatter-adds w·Bk(h) back.
    Tensor ExpertChoice(Tensor h, RecursionCache? cache)
    {
        bool threshold = !Training && Config.ThresholdInEval;
        if (cache is not null && !threshold)
            throw new InvalidOperationException("MorGpt: expert choice by top-k is not causal, so it cannot decode with a cache; use evaluation mode with ThresholdInEval");
        int batch = h.Size(0), length = h.Size(1);
        var alive = Enumerable.Range(0, batch).Select(_ => Enumerable.Repeat(true, length).ToArray()).ToArray();
        var routers = ExpertRouters!;
        var selections = new RecursionSelection?[Config.Recursions];
        var shared = SharedKeyValues(cache);
        bool collect = Training && AuxiliaryLosses.Collecting;
        for (int r = 0; r < Config.Recursions; r++)
        {
            var z = routers[r].Logits(h);
            var sel = ExpertChoiceRouter.Select(z.ToDoubleArray(), alive, Config.Capacity(r), threshold);
            if (collect && Config.AuxLossCoefficient > 0)
                AuxiliaryLosses.Add("mor_router_bce", ExpertChoiceRouter.SelectionLoss(z, alive, sel) * Config.AuxLossCoefficient);
            if (collect && Config.ResolvedZLoss > 0)
                AuxiliaryLosses.Add("mor_router_z", ExpertChoiceRouter.ZLoss(z, alive) * Config.ResolvedZLoss);
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < length; t++) alive[b][t] = alive[b][t] && sel.Contains(b, t);
            bool runs = sel.Slots > 0;
            if (!runs && !(shared is not null && r == 0)) continue;
            var y = RunStep(h, sel, r, cache, shared);
            if (!runs) continue;
            selections[r] = sel;
            var valid = sel.ValidMask(h.DType, h.Device);
            // s = α·σ(z) at the kept rows (weighted gating), 0 at padding.
            var w = Config.WeightedGating ? sel.GatherValues(z.Sigmoid() * Config.ResolvedAlpha) * valid : valid;
            h = sel.ScatterAdd(h, y * w);
        }
        LastSelections = selections;
        return h;
    }

    // Token choice (reference token_choice_router.py): one router gives each token a depth j; step i runs Bk on the
    // tokens with j ≥ i; an unfinished token's state is replaced by Bk(h), a finished one adds w·Bk(h) to h_in.
    Tensor TokenChoice(Tensor h, RecursionCache? cache)
    {
        var router = TokenRouter!;
        var z = router.Logits(h);
        var p = z.Softmax(-1) * Config.ResolvedAlpha;
        var depth = TokenChoiceRouter.Depths(p);
        if (Training && AuxiliaryLosses.Collecting)
        {
            if (Config.BalanceCoefficient > 0) AuxiliaryLosses.Add("mor_balance", TokenChoiceRouter.BalanceLoss(p, depth) * Config.BalanceCoefficient);
            if (Config.ResolvedZLoss > 0) AuxiliaryLosses.Add("mor_router_z", TokenChoiceRouter.ZLoss(z) * Config.ResolvedZLoss);
        }
        int length = h.Size(1);
        var gate = TokenChoiceGate(p, depth);
        var shared = SharedKeyValues(cache);
        var selections = new RecursionSelection?[Config.Recursions];
        Tensor output = h, current = h;
        for (int i = 0; i < Config.Recursions; i++)
        {
            int step = i;
            var sel = new RecursionSelection(depth.Select(row => Enumerable.Range(0, length).Where(t => row[t] >= step).ToArray()).ToArray(), length);
            if (sel.Slots == 0) break;
            selections[i] = sel;
            var y = RunStep(current, sel, i, cache, shared);
            var finished = sel.SlotMask((b, t) => depth[b][t] == step, h.DType, h.Device);
            var w = Config.WeightedGating ? sel.GatherValues(gate) * finished : finished;
            output = sel.ScatterAdd(output, y * w);
            if (i < Config.Recursions - 1)
            {
                var continuing = sel.SlotMask((b, t) => depth[b][t] > step, h.DType, h.Device);
                current = sel.ScatterAdd(current, (y - sel.Gather(current)) * continuing);
            }
        }
        LastSelections = selections;
        return output;
    }

    // w = p_j [B, T]: the gate of each token's chosen depth.
    static Tensor TokenChoiceGate(Tensor p, int[][] depth)
    {
        var index = Tensor.FromArray(depth.SelectMany(r => r.Select(j => (long)j)).ToArray(), [depth.Length, depth.Length == 0 ? 0 : depth[0].Length, 1]).To(p.Device);
        return p.Gather(-1, index).Squeeze(-1);
    }

    // Recursive sharing keeps step 0's keys and values: the decoding cache's, or fresh ones for one full forward.
    LayerKvCache[]? SharedKeyValues(RecursionCache? cache) => Config.KvMode != MorKvMode.RecursiveSharing ? null
        : Enumerable.Range(0, Config.SharedLayers).Select(b => cache?[0, b] ?? new LayerKvCache()).ToArray();

    // Bk on the selected rows of h [B, T, C] (the new positions): [B, Slots, C].
    Tensor RunStep(Tensor h, RecursionSelection sel, int step, RecursionCache? cache, LayerKvCache[]? shared)
    {
        var blocks = Shared;
        if (shared is not null && step == 0)
        {
            // Sharing: the first recursion runs every token, so every later query finds all earlier keys.
            var all = h;
            for (int b = 0; b < blocks.Count; b++) all = blocks[b].Forward(all, null, shared[b]);
            return sel.Slots == 0 ? all : sel.Gather(all);
        }
        var x = sel.Gather(h);
        if (shared is not null)
        {
            var hidden = SharedVisibility(sel, cache?.Length ?? 0, h.Device);
            for (int b = 0; b < blocks.Count; b++)
                x = blocks[b].Forward(x, null, new RoutedAttentionState(sharedKeys: shared[b].Keys, sharedValues: shared[b].Values, hidden: hidden));
            return x;
        }
        var mask = RecursionWiseVisibility(sel, step, cache, h.Device);
        for (int b = 0; b < blocks.Count; b++)
        {
            IMixerState? state = cache is null && mask is null ? null : new RoutedAttentionState(cache?[step, b], hidden: mask);
            x = blocks[b].Forward(x, null, state);
        }
        cache?.AppendSlots(step, sel);
        return x;
    }

    // Recursion-wise: slot i (after `past` cached slots) sees earlier real slots and itself; a padded slot sees itself
    // too, so no row of the softmax is empty, while no real query ever sees a padded slot. Null when nothing is padded
    // (plain causal over slots is then the same rule).
    static Tensor? RecursionWiseVisibility(RecursionSelection sel, int step, RecursionCache? cache, Device device)
    {
        int past = cache?.Slots(step) ?? 0, k = sel.Slots, keys = past + k;
        if (!sel.Padded && !(cache?.HasPlaceholders(step) ?? false)) return null;
        var hidden = new bool[sel.Batch * k * keys];
        for (int b = 0; b < sel.Batch; b++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < keys; j++)
                {
                    bool valid = j < past ? cache!.IsValid(step, b, j) : sel.Valid[b * k + j - past];
                    hidden[(b * k + i) * keys + j] = j > past + i || (!valid && j != past + i);
                }
        return Tensor.FromArray(hidden, [sel.Batch, k, keys]).To(device);
    }

    // Sharing, later steps: a query at position p sees the shared keys of positions 0..p. Null when the step keeps
    // every position (causal over slots is then the same rule).
    static Tensor? SharedVisibility(RecursionSelection sel, int past, Device device)
    {
        if (sel.All) return null;
        int k = sel.Slots, keys = past + sel.Length;
        var hidden = new bool[sel.Batch * k * keys];
        for (int b = 0; b < sel.Batch; b++)
            for (int i = 0; i < k; i++)
            {
                // A padded slot looks like the last position: its output is discarded, it only needs a visible key.
                int position = past + (i < sel.Kept[b].Length ? sel.Kept[b][i] : sel.Length - 1);
                for (int j = position + 1; j < keys; j++) hidden[(b * k + i) * keys + j] = true;
            }
        return Tensor.FromArray(hidden, [sel.Batch, k, keys]).To(device);
    }
}

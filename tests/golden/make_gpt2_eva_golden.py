"""Writes gpt2-tiny-eva/: an EVA-initialised LoRA adapter (init_lora_weights "eva"; Paischer et al. 2024,
arXiv:2410.07170; PEFT's lora/eva.py and utils/incremental_pca.py at the specs' commit) for gpt2-tiny in Hugging Face
PEFT's file layout, with the math in plain PyTorch (no peft package). Run after make_gpt2_golden.py, with Debian's
python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_eva_golden.py

Calibration: BATCHES batches of input_ids [2, 16] with labels (= input_ids, the first LABEL_MASKED positions of the
first row -100, which use_label_mask drops). Every Conv1D matched by target_modules ["c_attn", "c_proj", "c_fc"]
(8 layers, r 4, rho 2, so up to 8 components each and a budget of 32) records its input rows.
  exact:  the SVD of each layer's kept rows, all batches stacked and centred: components Vt (sign: the largest |entry|
          of each row positive, PEFT's _svd_flip with u_based_decision=False), explained variance ratios
          S^2 / ||X - mean||_F^2; the 32 largest ratios over all layers give the ranks (PEFT's _get_rank_distribution).
  peft:   PEFT's algorithm: an incremental PCA per layer (partial_fit batch by batch, keeping the top 8 components
          after each; the full SVD, where PEFT takes torch.svd_lowrank with seed 42), cycling through the batches
          until the components of every layer move less than tau = 0.99 (cosine similarity) within the ranks it
          needs, then the same rank distribution on its ratios.
The engine computes the exact one (EvaInit); the script checks that PEFT's gives the same ranks and prints how close
its components are.

Files:
  adapter_config.json        what PEFT's save_pretrained writes after initialize_lora_eva_weights: init_lora_weights
                             "eva", eva_config, rank_pattern (ranks != r) and alpha_pattern (alpha r_new / r, as
                             adjust_scaling_factors) by full module name, target_modules the full names of the layers
                             that kept a rank (a rank of 0 removes the layer).
  adapter_model.safetensors  lora_A = EVA's A (exact, float32), lora_B "trained" (non-zero) for every kept layer.
  golden.safetensors         input_ids, logits, loss, grad.<key>, logits_after_step (make_gpt2_lora_golden.finish).
  eva.safetensors            calibration.<i>.input_ids / .labels (int64 [2, 16]); exact.<module>.A [rank, in] (float64,
                             exact) and exact.<module>.ratio [8]; peft.<module>.A [rank, in] (float32, PEFT's algorithm).
"""
import json, math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, base_config, finish, read_safetensors

TARGETS = ["c_attn", "c_proj", "c_fc"]
R, ALPHA, RHO, TAU = 4, 8, 2.0, 0.99
BATCHES, LABEL_MASKED = 4, 3


def load_model():
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    model.eval()
    layers = []
    for i, block in enumerate(model.transformer.h):
        for name in ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]:
            if any(name == t or name.endswith("." + t) for t in TARGETS):
                layers.append((f"transformer.h.{i}.{name}", block.get_submodule(name)))
    return model, layers


def calibration_batches(seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(BATCHES):
        ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME), generator=g)
        labels = ids.clone()
        labels[0, :LABEL_MASKED] = -100
        out.append((ids, labels))
    return out


def layer_inputs(model, layers, batches):
    """Per layer, per batch: the input rows at positions whose label is not -100 (PEFT's
    prepare_layer_inputs_fn_language_modeling with use_label_mask)."""
    rows = {path: [] for path, _ in layers}
    current = {}
    handles = [conv.register_forward_pre_hook(lambda m, inp, path=path: rows[path].append(inp[0].reshape(-1, inp[0].shape[-1])[current["keep"]]))
               for path, conv in layers]
    with torch.no_grad():
        for ids, labels in batches:
            current["keep"] = (labels != -100).reshape(-1)
            model(ids)
    for h in handles:
        h.remove()
    return rows


def sign_rows(vt):
    """The largest |entry| of each row positive (the first on ties)."""
    idx = vt.abs().argmax(dim=1)
    return vt * torch.sign(vt[torch.arange(vt.shape[0]), idx]).unsqueeze(1)


def rank_distribution(ratios, budget):
    """ratios: {path: descending tensor}; the budget largest over all layers, counted per layer (ties: layer order)."""
    entries = [(float(v), i, j) for i, (path, vals) in enumerate(ratios.items()) for j, v in enumerate(vals)]
    entries.sort(key=lambda e: (-e[0], e[1], e[2]))
    counts = {path: 0 for path in ratios}
    paths = list(ratios)
    for _, i, _ in entries[:budget]:
        counts[paths[i]] += 1
    return counts


def exact_pca(x, k):
    x = x.to(torch.float64)
    xc = x - x.mean(dim=0)
    _, s, vt = torch.linalg.svd(xc, full_matrices=False)
    return sign_rows(vt[:k]), s[:k], (s[:k] ** 2) / (xc ** 2).sum()


class Ipca:
    """PEFT's IncrementalPCA.partial_fit (after scikit-learn), in float32 with the full SVD."""

    def __init__(self, k):
        self.k, self.n, self.mean, self.var, self.components, self.singular, self.ratio = k, 0, None, None, None, None, None

    def partial_fit(self, x):
        x = x.to(torch.float32).clone()
        m = x.shape[0]
        total = self.n + m
        batch_sum = x.sum(dim=0, dtype=torch.float64)
        old_sum = torch.zeros_like(batch_sum) if self.mean is None else self.mean * self.n
        mean = (old_sum + batch_sum) / total
        centred = x - batch_sum / m
        batch_unnorm = (centred ** 2).sum(dim=0, dtype=torch.float64) - centred.sum(dim=0, dtype=torch.float64) ** 2 / m
        if self.var is None:
            var = batch_unnorm / total
        else:
            ratio = self.n / m
            var = (self.var * self.n + batch_unnorm + ratio / total * (old_sum / ratio - batch_sum) ** 2) / total
        if self.components is None:
            x = x - mean
        else:
            batch_mean = x.mean(dim=0)
            x = x - batch_mean
            correction = math.sqrt(self.n / total * m) * (self.mean - batch_mean)
            x = torch.vstack((self.singular.view(-1, 1) * self.components, x, correction.to(x.dtype).view(1, -1)))
        _, s, vt = torch.linalg.svd(x, full_matrices=False)
        vt = sign_rows(vt)
        self.ratio = (s ** 2 / (var * total).sum())[: self.k]
        self.n, self.mean, self.var = total, mean, var
        self.components, self.singular = vt[: self.k], s[: self.k]


def peft_eva(rows, k, budget):
    """PEFT's loop: cycle the batches; a layer stops receiving batches once its components up to its current rank
    moved less than tau (cosine similarity) between two steps."""
    pcas = {path: Ipca(k) for path in rows}
    converged = {path: torch.zeros(k, dtype=torch.bool) for path in rows}
    done = {path: False for path in rows}
    ranks = {path: k for path in rows}
    step = 0
    while True:
        for path in rows:
            done[path] = bool(converged[path][: ranks[path]].all())
        if all(done.values()):
            break
        b = step % BATCHES
        for path, pca in pcas.items():
            if done[path]:
                continue
            previous = None if pca.components is None else pca.components.clone()
            pca.partial_fit(rows[path][b])
            if previous is not None:
                converged[path] = torch.nn.functional.cosine_similarity(pca.components, previous) >= TAU
        if all(p.components is not None for p in pcas.values()):
            ranks = rank_distribution({p: pcas[p].ratio for p in rows}, budget)
        step += 1
        assert step < 10000, "PEFT's loop did not converge"
    return pcas, ranks, step


def main():
    torch.manual_seed(60)
    model, layers = load_model()
    batches = calibration_batches(61)
    rows = layer_inputs(model, layers, batches)
    k = round(R * RHO)
    budget = R * len(layers)

    exact = {path: exact_pca(torch.cat(rows[path]), k) for path in rows}
    ranks = rank_distribution({p: exact[p][2] for p in rows}, budget)
    pcas, peft_ranks, steps = peft_eva(rows, k, budget)
    print(f"exact ranks {list(ranks.values())}; PEFT's incremental PCA after {steps} steps: {list(peft_ranks.values())}")
    assert ranks == peft_ranks, "PEFT's incremental PCA chose other ranks than the exact PCA"
    eva = {}
    for i, (ids, labels) in enumerate(batches):
        eva[f"calibration.{i}.input_ids"], eva[f"calibration.{i}.labels"] = ids, labels
    for path in rows:
        vt, _, ratio = exact[path]
        eva[f"exact.{path}.ratio"] = ratio
        r = ranks[path]
        if r == 0:
            continue
        eva[f"exact.{path}.A"] = vt[:r].contiguous()
        peft_a = pcas[path].components[:r]
        eva[f"peft.{path}.A"] = peft_a.contiguous()
        cos = (peft_a.to(torch.float64) * vt[:r]).sum(dim=1).abs()
        print(f"  {path}: rank {r}, |cos| of PEFT's components with the exact ones: min {cos.min().item():.6f}")

    rank_pattern = {p: r for p, r in ranks.items() if r != R}
    alpha_pattern = {p: ALPHA * r / R for p, r in ranks.items() if r not in (0, R)}
    kept = [p for p, r in ranks.items() if r > 0]
    config = base_config(r=R, lora_alpha=ALPHA, target_modules=kept, init_lora_weights="eva", rank_pattern=rank_pattern,
                         alpha_pattern=alpha_pattern,
                         eva_config={"rho": RHO, "tau": TAU, "use_label_mask": True, "label_mask_value": -100,
                                     "whiten": False, "adjust_scaling_factors": True})
    g = torch.Generator().manual_seed(62)
    tensors = {}
    for path, conv in layers:
        r = ranks[path]
        if r == 0:
            continue
        key = f"base_model.model.{path}"
        a = eva[f"exact.{path}.A"].to(torch.float32).contiguous()
        b = 0.3 * torch.randn(conv.weight.shape[1], r, generator=g)   # "trained": EVA starts it at zero
        tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"] = a, b
        s = (ALPHA * r / R) / r
        conv.forward = lambda x, conv=conv, a=a, b=b, s=s: x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
    os.makedirs(os.path.join(HERE, "gpt2-tiny-eva"), exist_ok=True)
    write_safetensors(os.path.join(HERE, "gpt2-tiny-eva", "eva.safetensors"), eva)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish("gpt2-tiny-eva", config, tensors, list(tensors), model, ids)


if __name__ == "__main__":
    main()

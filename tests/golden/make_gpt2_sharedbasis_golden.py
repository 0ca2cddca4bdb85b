"""Writes gpt2-tiny-randlora/ (and gpt2-tiny-frod/, gpt2-tiny-adamss/, gpt2-tiny-adamss-peft/): shared-basis adapters for gpt2-tiny in Hugging Face PEFT's file
layout, the adapter math written in plain PyTorch (no peft package), with the same golden.safetensors contents as
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_sharedbasis_golden.py

RandLoRA (PEFT's randlora/layer.py, 5d602fd): shared base_model.randlora_A [r, 1, min_dim] and base_model.randlora_B
  [max_dim, N, r] (min/max of the element-wise largest (out, in), N = ceil(min_dim / r)); per layer randlora_lambda
  [r, N_l] and randlora_gamma [N_l, min_l] (N_l = ceil(min_l / r)). A~[k, n, j] = lambda[k, n] A[k, 0, j] gamma[n, j]
  flattened to [r N_l, min_l]; B_flat = B[:max_l, :N_l, :] flattened to [max_l, N_l r]; dW = s B_flat A~ if min_l = in
  else s (B_flat A~)^T, s = randlora_alpha / r. GPT-2's c_attn (in 32 < out 96) takes the first form, mlp.c_proj
  (in 128 > out 32) the second.
FRoD (PEFT's frod/layer.py, model.py): per category (the last two path parts, e.g. attn_c_attn) base_model.frod_V.<cat>
  [in, in], base_model.frod_s_indices.<cat> [2, nnz] (int64), base_model.frod_s_size.<cat> [2] (int64); per layer
  frod_lambda_l [in], frod_lambda_s_values [nnz]. U is not saved: bi = W V^-T (float64 solve), U = bi / |bi|_col.
  y = ((x V) S^T + (x V) * lambda_l) U^T + b with S the sparse [in, in] matrix.
AdaMSS (PEFT's adamss/layer.py): per layer adamss_newB [R, in + 1] (the top R right singular vectors of [W | b]),
  adamss_A.<i> [r_i, R], adamss_B.<i> [|seg_i|, r_i]; with x~ = [x, 1], output row j of cluster i gets
  (B_i A_i newB x~) at j's place among the cluster's rows (ascending). PEFT does not save the clusters: the engine's
  files add adamss_assignment [out] (int64, the cluster of each row). gpt2-tiny-adamss/ is such an engine file (a
  non-contiguous, uneven clustering; trained-looking A and B); gpt2-tiny-adamss-peft/ holds the same tensors without
  the assignment (PEFT's layout), which the engine refuses naming the field. PEFT itself only adapts nn.Linear with
  a bias; the GPT-2 Conv1D targets here are the engine's extension (fan_in_fan_out).
"""
import json, math, os
import torch
from make_gpt2_lora_golden import CONFIG, common, make_other


def randlora_config(**fields):
    return common("RANDLORA", target_modules=["c_attn", "mlp.c_proj"], r=8, projection_prng_key=0, save_projection=True,
                  sparse=False, very_sparse=False, randlora_dropout=0.0, randlora_alpha=16, bias="none",
                  init_weights=True, **fields)


def make_randlora(d):
    config = randlora_config()
    r, s = config["r"], config["randlora_alpha"] / config["r"]
    g = torch.Generator().manual_seed(41)
    max_dim, min_dim = 4 * d, 3 * d  # largest (out, in) of c_attn [96, 32] and mlp.c_proj [32, 128]: (96, 128)
    n_all = math.ceil(min_dim / r)
    a = torch.rand(r, 1, min_dim, generator=g) * 2 - 1
    b = torch.rand(max_dim, n_all, r, generator=g) * 2 - 1
    tensors = {"base_model.randlora_A": a / a.std(), "base_model.randlora_B": b / b.std()}
    for i in range(CONFIG["n_layer"]):
        for name, (inf, outf) in [("attn.c_attn", (d, 3 * d)), ("mlp.c_proj", (4 * d, d))]:
            key = f"base_model.model.transformer.h.{i}.{name}"
            n = math.ceil(min(inf, outf) / r)
            # Non-zero (PEFT starts lambda at 0): a trained adapter.
            tensors[key + ".randlora_lambda"] = 0.5 * torch.randn(r, n, generator=g)
            tensors[key + ".randlora_gamma"] = 0.2 * torch.randn(n, min(inf, outf), generator=g)

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if key + ".randlora_lambda" not in tensors:
            return None
        inf, outf = conv.weight.shape
        lo, hi = min(inf, outf), max(inf, outf)

        def forward(x, conv=conv, key=key):
            lam, gam = tensors[key + ".randlora_lambda"], tensors[key + ".randlora_gamma"]
            n = gam.shape[0]
            a_s = tensors["base_model.randlora_A"][:, :n, :lo]
            b_flat = tensors["base_model.randlora_B"][:hi, :n, :].flatten(start_dim=1)
            a_flat = (lam[:, :, None] * a_s * gam[None]).flatten(end_dim=1)
            delta = b_flat @ a_flat if lo == inf else (b_flat @ a_flat).T  # [out, in]
            return x @ conv.weight + conv.bias + x @ delta.T * s
        return forward
    make_other("gpt2-tiny-randlora", config, tensors, layer, 41, [k for k in tensors if ".randlora_lambda" in k or ".randlora_gamma" in k])


def frod_projection(matrices, alpha):
    """PEFT's _projection_from_weights (float32)."""
    stacked = torch.cat(matrices, dim=0)
    if stacked.shape[0] < stacked.shape[1]:
        return torch.linalg.svd(stacked, full_matrices=True)[2].T
    q, r = torch.linalg.qr(stacked)
    dim, start, t = r.shape[1], 0, torch.zeros(r.shape[1], r.shape[1])
    for m in matrices:
        ql = q[start:start + m.shape[0]]
        start += m.shape[0]
        t += torch.linalg.inv(ql.T @ ql + alpha * torch.eye(dim))
    t /= len(matrices)
    return r.T @ torch.linalg.eigh(t)[1]


def frod_u_lambda(v, w):
    """PEFT's _calculate_frod_u_and_lambda: float64 solve, column norms."""
    bi = torch.linalg.solve(v.double(), w.double().T).T
    lam = torch.linalg.norm(bi, dim=0)
    return (bi / lam).float(), lam.float()


def make_frod(d):
    config = common("FROD", target_modules=["c_attn", "mlp.c_proj"], projection_prng_key=0, save_projection=True,
                    frod_dropout=0.0, bias="none", init_weights=True, sparse_rate=0.01, regularization_alpha=0.001,
                    progressbar=True, runtime_offload_base_weight=False)
    from make_gpt2_golden import GPT2LMHeadModel
    from make_gpt2_lora_golden import HERE, read_safetensors
    base = GPT2LMHeadModel(CONFIG)
    base.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    gen = torch.Generator().manual_seed(config["projection_prng_key"])
    g = torch.Generator().manual_seed(42)
    tensors, u_of = {}, {}
    for cat, name in [("attn_c_attn", "attn.c_attn"), ("mlp_c_proj", "mlp.c_proj")]:  # sorted categories
        weights = [dict(base.transformer.h[i].named_modules())[name].weight.detach().T for i in range(CONFIG["n_layer"])]
        v = frod_projection(weights, config["regularization_alpha"])
        n = v.shape[0]
        rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        pairs = torch.stack([rows.flatten(), cols.flatten()], dim=1)
        off = pairs[pairs[:, 0] != pairs[:, 1]]
        nnz = max(1, min(int(n * n * config["sparse_rate"]), off.shape[0]))
        idx = off[torch.randperm(off.shape[0], generator=gen)[:nnz]].t().contiguous()
        tensors[f"base_model.frod_V.{cat}"] = v.contiguous()
        tensors[f"base_model.frod_s_indices.{cat}"] = idx
        tensors[f"base_model.frod_s_size.{cat}"] = torch.tensor([n, n], dtype=torch.long)
        for i, w in enumerate(weights):
            key = f"base_model.model.transformer.h.{i}.{name}"
            u, lam = frod_u_lambda(v, w)
            u_of[key] = u
            # Trained-looking: lambda moved off its initial column norms, S non-zero.
            tensors[key + ".frod_lambda_l"] = lam * (1 + 0.2 * torch.randn(n, generator=g))
            tensors[key + ".frod_lambda_s_values"] = 0.3 * torch.randn(nnz, generator=g)

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if key + ".frod_lambda_l" not in tensors:
            return None
        cat = "attn_c_attn" if path.endswith("attn.c_attn") else "mlp_c_proj"

        def forward(x, conv=conv, key=key, cat=cat):
            v, idx = tensors[f"base_model.frod_V.{cat}"], tensors[f"base_model.frod_s_indices.{cat}"]
            n = v.shape[0]
            s = torch.sparse_coo_tensor(idx, tensors[key + ".frod_lambda_s_values"], (n, n)).to_dense()
            z = x @ v
            return (z @ s.T + z * tensors[key + ".frod_lambda_l"]) @ u_of[key].T + conv.bias
        return forward
    make_other("gpt2-tiny-frod", config, tensors, layer, 42, [k for k in tensors if ".frod_lambda_" in k])


def make_adamss(d):
    config = common("ADAMSS", target_modules=["c_attn", "mlp.c_proj"], r=8, num_subspaces=3, subspace_rank=2,
                    init_weights="orthogonal", use_asa=False, asa_target_subspaces=50, init_warmup=50, final_warmup=1000,
                    mask_interval=100, asa_importance_beta=0.85, asa_uncertainty_beta=0.85, asa_schedule_exponent=3.0,
                    use_dynamic_rank=False, svd_threshold=0.1, random_seed=0)
    from make_gpt2_golden import GPT2LMHeadModel, write_safetensors
    from make_gpt2_lora_golden import HERE, read_safetensors
    base = GPT2LMHeadModel(CONFIG)
    base.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    g = torch.Generator().manual_seed(43)
    r, k, rank = config["r"], config["num_subspaces"], config["subspace_rank"]
    tensors = {}
    for i in range(CONFIG["n_layer"]):
        for name in ["attn.c_attn", "mlp.c_proj"]:
            conv = dict(base.transformer.h[i].named_modules())[name]
            x_aug = torch.cat([conv.weight.detach().T, conv.bias.detach()[:, None]], dim=1)  # [out, in + 1]
            out = x_aug.shape[0]
            key = f"base_model.model.transformer.h.{i}.{name}"
            tensors[key + ".adamss_newB"] = torch.linalg.svd(x_aug, full_matrices=False)[2][:r].contiguous()
            # Uneven clusters scattered over the rows (sizes 1/2, 1/3, 1/6 of the rows, in a random order).
            labels = torch.cat([torch.full((out // 2,), 0), torch.full((out // 3,), 1), torch.full((out - out // 2 - out // 3,), 2)])
            labels = labels[torch.randperm(out, generator=g)]
            tensors[key + ".adamss_assignment"] = labels.long()
            for c in range(k):
                n = int((labels == c).sum())
                ri = min(n, rank)
                tensors[key + f".adamss_A.{c}"] = torch.linalg.qr(torch.randn(r, ri, generator=g))[0].T.contiguous() + 0.1 * torch.randn(ri, r, generator=g)
                tensors[key + f".adamss_B.{c}"] = 0.3 * torch.randn(n, ri, generator=g)

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if key + ".adamss_newB" not in tensors:
            return None

        def forward(x, conv=conv, key=key):
            labels = tensors[key + ".adamss_assignment"]
            xt = torch.cat([x, torch.ones(*x.shape[:-1], 1)], dim=-1)
            projected = xt @ tensors[key + ".adamss_newB"].T  # [..., R]
            chunks = [projected @ tensors[key + f".adamss_A.{c}"].T @ tensors[key + f".adamss_B.{c}"].T for c in range(k)]
            scatter = torch.cat([torch.where(labels == c)[0] for c in range(k)])
            delta = torch.zeros(*x.shape[:-1], labels.shape[0]).index_copy(-1, scatter, torch.cat(chunks, dim=-1))
            return x @ conv.weight + conv.bias + delta
        return forward
    # PEFT's layout: the same adapter without the engine's assignment (refused at load, naming adamss_assignment).
    out = os.path.join(HERE, "gpt2-tiny-adamss-peft")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"),
                      {k_: v.detach() for k_, v in tensors.items() if not k_.endswith(".adamss_assignment")})

    make_other("gpt2-tiny-adamss", config, tensors, layer, 43, [k_ for k_ in tensors if ".adamss_A." in k_ or ".adamss_B." in k_])


def main():
    d = CONFIG["n_embd"]
    make_randlora(d)
    make_frod(d)
    make_adamss(d)


if __name__ == "__main__":
    main()

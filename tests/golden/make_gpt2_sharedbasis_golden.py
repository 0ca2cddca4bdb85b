"""Writes gpt2-tiny-randlora/ (and gpt2-tiny-frod/): shared-basis adapters for gpt2-tiny in Hugging Face PEFT's file
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
"""
import math, os
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


def main():
    d = CONFIG["n_embd"]
    make_randlora(d)


if __name__ == "__main__":
    main()

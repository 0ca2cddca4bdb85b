"""Writes gpt2-tiny-{flylora,mos}/: the routed-sharing family of issue 17 for gpt2-tiny in the engine's file layout
(PEFT's: adapter_config.json + adapter_model.safetensors, keys base_model.model.<path>.<tensor>; engine peft_types),
the adapter math written in plain PyTorch (no peft package), with the golden.safetensors contents of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Targets: c_attn and mlp.c_proj of both blocks.
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_routed_golden.py

FlyLoRA (gfyddha/FlyLoRA peft/src/peft/tuners/lora/layer.py, Linear.forward): flylora_A [r, in] frozen and sparse
  (p = in // (r // k) non-zeros per row at randperm positions, N(0, (1/r)^2)), flylora_B [out, r] trained,
  flylora_topk_bias d [r] a buffer; h = x A^T under no_grad, idx = topk(h + d, k), y = base(x) + (alpha / r) (h * m) B^T.
  bias_u = 0: the balance update (training mode in the engine) leaves d as the file has it.
MoS (arXiv 2410.00938, spec adapters-lowrank.md section 12): per module type base_model.mos_pool_A_<type>
  [v L l, in / l] and mos_pool_B_<type> [out / l, v L l], trained; per layer mos_index_A, mos_index_B (int64 [r l]):
  (r - p) l distinct shared draws from [0, S), S = (v - p) L l, then S + [i p l, (i + 1) p l); A_i = Pool_A[idx_A]
  as [r, in], B_i = (Pool_B^T[idx_B] as [r, out])^T; y = base(x) + (alpha / r) x A_i^T B_i^T.
"""
import torch
from make_gpt2_golden import CONFIG
from make_gpt2_lora_golden import common, make_other

D = CONFIG["n_embd"]
LAYERS = [(f"transformer.h.{i}.{name}", inf, outf) for i in range(CONFIG["n_layer"])
          for name, inf, outf in [("attn.c_attn", D, 3 * D), ("mlp.c_proj", 4 * D, D)]]
TARGETS = ["c_attn", "mlp.c_proj"]


def key(path):
    return f"base_model.model.{path}"


def make_flylora():
    r, k, alpha = 8, 2, 12
    config = common("FLYLORA", target_modules=TARGETS, r=r, lora_alpha=alpha, top_k=k, bias_u=0.0, topk_by_magnitude=False,
                    lora_dropout=0.0, seed=3)
    g = torch.Generator().manual_seed(51)
    tensors = {}
    for path, inf, outf in LAYERS:
        p = inf // (r // k)
        a = torch.zeros(r, inf)
        for i in range(r):
            a[i, torch.randperm(inf, generator=g)[:p]] = torch.randn(p, generator=g) / r
        tensors[key(path) + ".flylora_A"] = a
        tensors[key(path) + ".flylora_B"] = 0.5 * torch.randn(outf, r, generator=g)
        tensors[key(path) + ".flylora_topk_bias"] = 0.02 * torch.randn(r, generator=g)

    def layer(path, conv):
        if key(path) + ".flylora_A" not in tensors:
            return None
        def forward(x):
            a, b, d = (tensors[key(path) + s] for s in (".flylora_A", ".flylora_B", ".flylora_topk_bias"))
            with torch.no_grad():
                h = x @ a.T
            _, idx = torch.topk(h + d, k, dim=-1)
            mask = torch.zeros_like(h).scatter_(-1, idx, 1.0)
            return x @ conv.weight + conv.bias + ((h * mask) @ b.T) * (alpha / r)
        return forward
    trainable = [t for t in tensors if t.endswith(".flylora_B")]
    make_other("gpt2-tiny-flylora", config, tensors, layer, 51, trainable)


def make_mos():
    r, v, p, l, alpha = 4, 3, 1, 2, 6
    config = common("MOS", target_modules=TARGETS, r=r, budget_rank=v, private_rank=p, shards_per_vector=l, lora_alpha=alpha,
                    lora_dropout=0.0, seed=3)
    g = torch.Generator().manual_seed(52)
    tensors = {}
    types = {}
    for path, inf, outf in LAYERS:
        types.setdefault("transformer_h_" + path.split(".", 3)[3].replace(".", "_"), []).append((path, inf, outf))
    kinds = {}
    for t, layers in types.items():
        n, (_, inf, outf) = v * len(layers) * l, layers[0]
        tensors[f"base_model.mos_pool_A_{t}"] = 0.4 * torch.randn(n, inf // l, generator=g)
        tensors[f"base_model.mos_pool_B_{t}"] = 0.4 * torch.randn(outf // l, n, generator=g)
        shared = (v - p) * len(layers) * l
        for i, (path, _, _) in enumerate(layers):
            private = torch.arange(shared + i * p * l, shared + (i + 1) * p * l)
            for f in ("A", "B"):
                tensors[key(path) + f".mos_index_{f}"] = torch.cat([torch.randperm(shared, generator=g)[:(r - p) * l], private]).to(torch.int64)
            kinds[path] = t
    trainable = [k for k in tensors if k.startswith("base_model.mos_pool_")]

    def layer(path, conv):
        if path not in kinds:
            return None
        t = kinds[path]
        def forward(x):
            pa, pb = tensors[f"base_model.mos_pool_A_{t}"], tensors[f"base_model.mos_pool_B_{t}"]
            a = pa[tensors[key(path) + ".mos_index_A"]].reshape(r, -1)
            b = pb.T[tensors[key(path) + ".mos_index_B"]].reshape(r, -1).T
            return x @ conv.weight + conv.bias + (x @ a.T) @ b.T * (alpha / r)
        return forward
    make_other("gpt2-tiny-mos", config, tensors, layer, 52, trainable)


def main():
    make_flylora()
    make_mos()


if __name__ == "__main__":
    main()

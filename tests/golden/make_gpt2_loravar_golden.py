"""Writes gpt2-tiny-{mica,orthogonal,bdlora}/ (PEFT-exact) and gpt2-tiny-kasa-blocks/ (engine extension): LoRA
variants of PEFT's lora/variants.py (5d602fd) for gpt2-tiny in Hugging Face PEFT's file layout, the math written in
plain PyTorch (no peft package), with the same golden.safetensors contents as make_gpt2_lora_golden.py (logits, loss,
grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_loravar_golden.py

MiCA (init_lora_weights "mica"; PEFT's mica_init, MiCALinearVariant): W0 [out, in] = U S V^T, lora_B = U[:, -r:]
  (the minor left singular vectors) frozen, lora_A trained (zero at init; "trained" non-zero here); y = x W + b +
  s (x A^T) B^T. PEFT saves lora_B too; only lora_A has a gradient.
Orthogonal (init_lora_weights "orthogonal"; PEFT's orthogonal_init): the init only; the file holds the trained A, B and
  the forward is plain LoRA's.
BD-LoRA (use_bdlora; PEFT's BdLoraLinearVariant, BlockDiagonalLinear): c_attn (target_modules_bd_a) stores lora_A as
  the nblocks blocks [r, in / nblocks] stacked along rows, c_proj (target_modules_bd_b) lora_B as [out, r / nblocks];
  a block-diagonal factor acts as PEFT's einsum("bim,inm->bin") over the input chunks.
KaSA (kasa_config; PEFT's KasaLinearVariant), -blocks: PEFT refuses fan_in_fan_out layers (GPT-2's Conv1D) for KaSA;
  the engine's extension applies it to W0 [out, in] (the transpose of Conv1D's weight: the truncation commutes with
  it). The base becomes the rank-(k - r) SVD truncation of W0 (k = min(out, in), in float32 as PEFT), and
  y = x W_trunc + b + s ((x A^T) * lora_diag) B^T; lora_A, lora_B, lora_diag trained.
"""
import math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel
from make_gpt2_lora_golden import HERE, base_config, finish, pattern_value, read_safetensors

LAYERS = ["attn.c_attn", "attn.c_proj", "mlp.c_proj"]


def model_and_layers(seed, config):
    """The gpt2-tiny model and its Conv1D layers that PEFT's target_modules (suffix match) selects."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    chosen = []
    for i, block in enumerate(model.transformer.h):
        for name in LAYERS:
            conv = block.get_submodule(name)
            if any(name == t or name.endswith("." + t) for t in config["target_modules"]):
                chosen.append((f"transformer.h.{i}.{name}", conv))
    return model, chosen


def scale(config, path):
    r = pattern_value(config["rank_pattern"], path, config["r"])
    alpha = pattern_value(config["alpha_pattern"], path, config["lora_alpha"])
    return r, (alpha / math.sqrt(r) if config["use_rslora"] else alpha / r)


def run_and_finish(folder, config, model, tensors, trainable):
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def make_mica(seed):
    config = base_config(init_lora_weights="mica", r=4, lora_alpha=6, rank_pattern={r"h\.1\.attn\.c_attn": 2})
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    tensors, trainable = {}, []
    for path, conv in layers:
        r, s = scale(config, path)
        key = f"base_model.model.{path}"
        u, _, _ = torch.linalg.svd(conv.weight.detach().T.to(torch.float32), full_matrices=False)
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, conv.weight.shape[0], generator=g)
        tensors[key + ".lora_B.weight"] = u[:, -r:].contiguous()
        trainable.append(key + ".lora_A.weight")
        a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]
        conv.forward = lambda x, conv=conv, a=a, b=b, s=s: x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
    run_and_finish("gpt2-tiny-mica", config, model, tensors, trainable)


def make_orthogonal(seed):
    config = base_config(init_lora_weights="orthogonal", target_modules=["c_attn"], r=4, lora_alpha=8)
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in layers:
        r, s = scale(config, path)
        in_f, out_f = conv.weight.shape
        # PEFT's orthogonal_init, then "training" noise: B A = 0 at init, non-zero here.
        q, _ = torch.linalg.qr(torch.randn(r, r, generator=g))
        a0 = (torch.randn(in_f, r // 2, generator=g) @ q[0::2, :]).T / 10.0
        b0 = torch.randn(r // 2, out_f, generator=g).T @ q[1::2, :] / 10.0
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = (a0 + 0.2 * torch.randn(a0.shape, generator=g)).contiguous()
        tensors[key + ".lora_B.weight"] = (b0 + 0.2 * torch.randn(b0.shape, generator=g)).contiguous()
        a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]
        conv.forward = lambda x, conv=conv, a=a, b=b, s=s: x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
    run_and_finish("gpt2-tiny-orthogonal", config, model, tensors, list(tensors))


def block_diagonal_apply(x, weight, nblocks):
    """PEFT's BlockDiagonalLinear.forward: input chunk i through row block i of weight [out, in / nblocks]."""
    first = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    m, n = x.shape[-1] // nblocks, weight.shape[0] // nblocks
    out = torch.einsum("bim,inm->bin", x.reshape(x.shape[0], nblocks, m), weight.view(nblocks, n, m))
    return out.reshape(*first, -1)


def make_bdlora(seed):
    bd = {"target_modules_bd_a": ["c_attn"], "target_modules_bd_b": ["c_proj"], "nblocks": 2, "match_strict": True}
    config = base_config(use_bdlora=bd, r=4, lora_alpha=8)
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    n = bd["nblocks"]
    tensors = {}
    for path, conv in layers:
        r, s = scale(config, path)
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.{path}"
        block_a = any(p in path for p in bd["target_modules_bd_a"])
        a = 0.3 * torch.randn(r, in_f // n if block_a else in_f, generator=g)
        b = 0.3 * torch.randn(out_f, r if block_a else r // n, generator=g)
        tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"] = a, b

        def forward(x, conv=conv, a=a, b=b, s=s, block_a=block_a):
            after_a = block_diagonal_apply(x, a, n) if block_a else x @ a.T
            after_b = after_a @ b.T if block_a else block_diagonal_apply(after_a, b, n)
            return x @ conv.weight + conv.bias + after_b * s
        conv.forward = forward
    run_and_finish("gpt2-tiny-bdlora", config, model, tensors, list(tensors))


def make_kasa_blocks(seed):
    config = base_config(kasa_config={"beta": 1e-4, "gamma": 1e-3}, target_modules=["c_attn", "mlp.c_proj"], r=4, lora_alpha=6,
                         rank_pattern={r"h\.0\.mlp\.c_proj": 2})
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in layers:
        r, s = scale(config, path)
        w0 = conv.weight.detach().T.to(torch.float32)  # [out, in]
        u, sv, vh = torch.linalg.svd(w0, full_matrices=False)
        kept = min(w0.shape) - r
        with torch.no_grad():
            conv.weight.copy_(((u[:, :kept] * sv[:kept]) @ vh[:kept]).T)
        out_f, in_f = w0.shape
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, in_f, generator=g)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(out_f, r, generator=g)
        tensors[key + ".lora_diag"] = torch.randn(r, generator=g)
        a, b, d = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"], tensors[key + ".lora_diag"]
        conv.forward = lambda x, conv=conv, a=a, b=b, d=d, s=s: x @ conv.weight + conv.bias + ((x @ a.T) * d) @ b.T * s
    run_and_finish("gpt2-tiny-kasa-blocks", config, model, tensors, list(tensors))


def main():
    make_mica(41)
    make_orthogonal(42)
    make_bdlora(43)
    make_kasa_blocks(44)


if __name__ == "__main__":
    main()

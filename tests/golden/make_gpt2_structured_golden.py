"""Writes the structured family's folders: gpt2-tiny-{delora,delora-blocks,gralora,gralora-hybrid,miss,miss-bat,
miss-mini,bone}/, adapters for gpt2-tiny in Hugging Face PEFT's file layout, the adapter math written in plain
PyTorch after PEFT's layers (5d602fd; Bone from the commit before its removal, 2e49b6f^), with the same
golden.safetensors contents as make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step).
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_structured_golden.py

PEFT wraps only nn.Linear with DeLoRA, MiSS and Bone, not GPT-2's Conv1D: their PEFT files for GPT-2 adapt lm_head,
the Linear tied to wte, and save_pretrained then also writes base_model.model.lm_head.base_layer.weight (= wte).
GraLoRA accepts Conv1D (fan_in_fan_out = true), so its folders adapt the blocks as PEFT does.
DeLoRA (delora.DeloraLinear): delora_A [r, in], delora_B [out, r], delora_lambda [1] (trained), delora_w_norm [in]
  (a persistent buffer: the base weight's column norms at creation, saved, not trained);
  y = base(x) + (((x * w_norm) A^T) * lambda / r / (clamp(|A_i|) clamp(|B_:i|))) B^T, norms clamped at 1e-4.
  gpt2-tiny-delora-blocks is the engine's extension to Conv1D (c_attn, mlp.c_fc) in the nn.Linear orientation
  (w_norm = norms of the columns of W [out, in]), with rank_pattern / lambda_pattern.
GraLoRA (gralora.Linear): gralora_A [k, in/k, r], gralora_B [k, r, out/k]; hybrid_r > 0 adds
  gralora_A_general.weight [h, in], gralora_B_general.weight [out, h]; s = alpha / (r + h); the forward is PEFT's
  einsum pair (input block n through A_n, the r outputs regrouped by output block, then B_j) plus s B_g A_g x.
MiSS (miss.MissLinear): miss_block; balanced [r, out]: y = base(x) + sum_c pad(x)_c @ D; mini [r, mini_r] tiled to
  [r, out]; bat [out/r, r, r]: W' = W + (W_blocks @ D + D) on r x r blocks, y = x W'^T + b.
Bone (peft_type BONE, key bone_block): MiSS's balanced form under the former names; the engine loads it as MiSS and
  saves it as PEFT's convert-bone-to-miss.py writes it (peft_type MISS, .bone_ -> .miss_).
"""
import math, os
import torch
import torch.nn.functional as F
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish, pattern_value
from make_gpt2_lycoris_golden import base_model


def peft_config(peft_type, fields, **overrides):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True}
    config.update(fields)
    config.update(overrides)
    return config


def delora_config(**o):
    return peft_config("DELORA", {"r": 8, "delora_lambda": 15, "module_dropout": 0.0, "target_modules": ["lm_head"],
                                  "exclude_modules": None, "bias": "none", "init_weights": True, "layers_to_transform": None,
                                  "layers_pattern": None, "rank_pattern": {}, "lambda_pattern": {}, "modules_to_save": None}, **o)


def gralora_config(**o):
    return peft_config("GRALORA", {"r": 32, "hybrid_r": 0, "target_modules": ["c_attn"], "alpha": 64, "gralora_dropout": 0.0,
                                   "gralora_k": 2, "fan_in_fan_out": True, "bias": "none", "modules_to_save": None,
                                   "init_weights": True, "layers_to_transform": None, "layers_pattern": None}, **o)


def miss_config(peft_type="MISS", **o):
    fields = {"r": 64, "miss_dropout": 0.0, "mini_r": 1, "target_modules": ["lm_head"], "exclude_modules": None,
              "init_weights": True, "layers_to_transform": None, "layers_pattern": None, "bias": "none", "modules_to_save": None}
    if peft_type == "BONE":
        del fields["miss_dropout"], fields["mini_r"]
    return peft_config(peft_type, fields, **o)


# --- DeLoRA -------------------------------------------------------------------------------------------------------

def delora_tensors(config, path, weight, g):
    """weight: the base weight [out, in] (nn.Linear orientation)."""
    out_f, in_f = weight.shape
    r = pattern_value(config["rank_pattern"], path, config["r"])
    lam = pattern_value(config["lambda_pattern"], path, config["delora_lambda"])
    k = f"base_model.model.{path}"
    # A trained adapter: every tensor non-zero, lambda moved away from its initial value.
    return {k + ".delora_A": torch.randn(r, in_f, generator=g), k + ".delora_B": torch.randn(out_f, r, generator=g),
            k + ".delora_lambda": torch.tensor([0.8 * lam]), k + ".delora_w_norm": torch.norm(weight.detach(), dim=0)}


def delora_forward(config, path, t, x):
    k = f"base_model.model.{path}"
    a, b, lam, w_norm = t[k + ".delora_A"], t[k + ".delora_B"], t[k + ".delora_lambda"], t[k + ".delora_w_norm"]
    r = a.shape[0]
    h = F.linear(x * w_norm, a)
    an = torch.clamp(a.norm(dim=1), min=1e-4)
    bn = torch.clamp(b.norm(dim=0), min=1e-4)
    return F.linear(h * (lam / r) / (an * bn), b)


# --- GraLoRA ------------------------------------------------------------------------------------------------------

def gralora_tensors(config, path, out_f, in_f, g):
    r, k, h = config["r"], config["gralora_k"], config["hybrid_r"]
    key = f"base_model.model.{path}"
    t = {key + ".gralora_A": 0.5 * torch.randn(k, in_f // k, r, generator=g), key + ".gralora_B": 0.5 * torch.randn(k, r, out_f // k, generator=g)}
    if h > 0:
        t[key + ".gralora_A_general.weight"] = 0.5 * torch.randn(h, in_f, generator=g)
        t[key + ".gralora_B_general.weight"] = 0.5 * torch.randn(out_f, h, generator=g)
    return t


def gralora_forward(config, path, t, x):
    r, n, h = config["r"], config["gralora_k"], config["hybrid_r"]
    s = config["alpha"] / (r + h)
    key = f"base_model.model.{path}"
    a, b = t[key + ".gralora_A"], t[key + ".gralora_B"]
    bsz, length, in_f = x.shape
    q = r // n
    inner = torch.einsum("blni, nir -> blnr", x.view(bsz, length, n, in_f // n), a)
    inner = inner.view(bsz, length, n, n, q).permute(0, 1, 3, 2, 4).reshape(bsz, length, n, n * q)
    y = torch.einsum("bljr, jro -> bljo", inner, b).reshape(bsz, length, -1) * s
    if h > 0:
        y = y + s * F.linear(F.linear(x, t[key + ".gralora_A_general.weight"]), t[key + ".gralora_B_general.weight"])
    return y


# --- MiSS / Bone --------------------------------------------------------------------------------------------------

def miss_tensors(config, fragment, out_f, in_f, g):
    r = config["r"]
    shape = {"bat": (out_f // r, r, r), "mini": (r, config.get("mini_r", 1))}.get(config["init_weights"], (r, out_f))
    # The bat blocks stay small so that I + D is well conditioned (its inverse unmerges).
    scale = 0.05 if config["init_weights"] == "bat" else 0.3
    return {f"base_model.model.lm_head.{fragment}_block": scale * torch.randn(*shape, generator=g)}


def miss_weight(config, d, weight):
    """The bat form's adapted weight: W + (W_blocks @ D + D)."""
    r = d.shape[-1]
    blocks = weight.reshape(weight.shape[0] // r, r, weight.shape[1] // r, r).permute(2, 0, 1, 3)
    return weight + (blocks @ d + d).permute(1, 2, 0, 3).reshape(*weight.shape)


def miss_added(config, d, x, out_f):
    """The balanced and mini forms: sum over the r-wide shards of the zero-padded x, times D [r, out]."""
    if config["init_weights"] == "mini":
        d = d.repeat(1, out_f // config["mini_r"])
    r = d.shape[0]
    if x.shape[-1] % r != 0:
        x = F.pad(x, (0, (r - x.shape[-1] % r) % r))
    return torch.sum(x.reshape(*x.shape[:-1], x.shape[-1] // r, r), dim=-2) @ d


# --- folders ------------------------------------------------------------------------------------------------------

def make_head(folder, config, make_tensors, forward_of, trainable_of, seed):
    """lm_head adapted (nn.Linear [vocab, n_embd], tied to wte); its base weight saved beside the adapter."""
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    tensors = make_tensors(config, head.weight, g)
    trainable = [k for k in tensors if trainable_of(k)]
    tensors["base_model.model.lm_head.base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: forward_of(config, tensors, head.weight, x)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def make_blocks(folder, config, make_tensors, forward, trainable_of, seed, names):
    """GPT-2's Conv1D layers (weight [in, out]) adapted."""
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for i, block in enumerate(model.transformer.h):
        for name in names:
            conv = block.get_submodule(name)
            path = f"transformer.h.{i}.{name}"
            tensors.update(make_tensors(config, path, conv.weight, g))
            conv.forward = lambda x, conv=conv, path=path: x @ conv.weight + conv.bias + forward(config, path, tensors, x)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, [k for k in tensors if trainable_of(k)], model, ids)


def not_w_norm(key):
    return not key.endswith(".delora_w_norm")


def main():
    # DeLoRA on lm_head [64, 32], PEFT's own case.
    make_head("gpt2-tiny-delora", delora_config(r=4, delora_lambda=3),
              lambda c, w, g: delora_tensors(c, "lm_head", w, g),
              lambda c, t, w, x: x @ w.T + delora_forward(c, "lm_head", t, x), not_w_norm, 41)
    # The extension: Conv1D blocks, the weight seen as [out, in] = conv.weight^T.
    make_blocks("gpt2-tiny-delora-blocks", delora_config(r=2, delora_lambda=2, target_modules=["c_attn", "mlp.c_fc"],
                rank_pattern={r"h\.1\.attn\.c_attn": 3}, lambda_pattern={"mlp.c_fc": 4}),
                lambda c, path, w, g: delora_tensors(c, path, w.T, g), delora_forward, not_w_norm, 42, ["attn.c_attn", "mlp.c_fc"])
    # GraLoRA on c_attn (32 -> 96) and mlp.c_fc (32 -> 128): a 2 x 2 grid of rank-2 blocks.
    make_blocks("gpt2-tiny-gralora", gralora_config(r=4, alpha=8, target_modules=["c_attn", "mlp.c_fc"]),
                lambda c, path, w, g: gralora_tensors(c, path, w.shape[1], w.shape[0], g), gralora_forward,
                lambda k: True, 43, ["attn.c_attn", "mlp.c_fc"])
    # A 4 x 4 grid (q = 2) with a rank-2 hybrid LoRA, on attn.c_attn and attn.c_proj (32 -> 32).
    make_blocks("gpt2-tiny-gralora-hybrid", gralora_config(r=8, hybrid_r=2, alpha=5, gralora_k=4, target_modules=["c_attn", "attn.c_proj"]),
                lambda c, path, w, g: gralora_tensors(c, path, w.shape[1], w.shape[0], g), gralora_forward,
                lambda k: True, 44, ["attn.c_attn", "attn.c_proj"])
    out_f, in_f = CONFIG["vocab_size"], CONFIG["n_embd"]
    # MiSS balanced, r = 6: 32 = 5 x 6 + 2, the last shard partial (x zero-padded).
    make_head("gpt2-tiny-miss", miss_config(r=6), lambda c, w, g: miss_tensors(c, "miss", out_f, in_f, g),
              lambda c, t, w, x: x @ w.T + miss_added(c, t["base_model.model.lm_head.miss_block"], x, out_f), lambda k: True, 45)
    make_head("gpt2-tiny-miss-bat", miss_config(r=8, init_weights="bat"), lambda c, w, g: miss_tensors(c, "miss", out_f, in_f, g),
              lambda c, t, w, x: x @ miss_weight(c, t["base_model.model.lm_head.miss_block"], w).T, lambda k: True, 46)
    make_head("gpt2-tiny-miss-mini", miss_config(r=8, init_weights="mini", mini_r=16), lambda c, w, g: miss_tensors(c, "miss", out_f, in_f, g),
              lambda c, t, w, x: x @ w.T + miss_added(c, t["base_model.model.lm_head.miss_block"], x, out_f), lambda k: True, 47)
    # Bone, the former name: peft_type BONE, key bone_block, the balanced form (r = 8).
    make_head("gpt2-tiny-bone", miss_config("BONE", r=8), lambda c, w, g: miss_tensors(c, "bone", out_f, in_f, g),
              lambda c, t, w, x: x @ w.T + miss_added(c, t["base_model.model.lm_head.bone_block"], x, out_f), lambda k: True, 48)


if __name__ == "__main__":
    main()

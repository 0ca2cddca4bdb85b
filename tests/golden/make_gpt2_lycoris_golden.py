"""Writes gpt2-tiny-{loha,lokr}/ (PEFT-exact) and gpt2-tiny-{loha,lokr}-blocks/ (engine extension): LyCORIS adapters
for gpt2-tiny in Hugging Face PEFT's file layout, the adapter math written in plain PyTorch (no peft package), with
the same golden.safetensors contents as make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step).
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_lycoris_golden.py

PEFT (5d602fd) wraps only nn.Linear / Conv layers with LoHa and LoKr, not GPT-2's Conv1D: its files for GPT-2 adapt
lm_head, the Linear tied to wte. Because lm_head is one of PEFT's EMBEDDING_LAYER_NAMES, save_pretrained then also
writes the wrapped base weight, base_model.model.lm_head.base_layer.weight (= wte.weight).
LoHa (PEFT's loha.Linear): keys hada_w1_a, hada_w2_a [out, r], hada_w1_b, hada_w2_b [r, in];
  dW = (alpha / r) (w1_a w1_b) * (w2_a w2_b); y = base(x) + x dW^T.
LoKr (PEFT's lokr.Linear): (a, b) = factorization(out), (c, d) = factorization(in); W1 [a, c] is lokr_w1, or
  lokr_w1_a [a, r] lokr_w1_b [r, c] when decompose_both and r < max(a, c) / 2; W2 [b, d] is lokr_w2 when
  r >= max(b, d) / 2, else lokr_w2_a [b, r] lokr_w2_b [r, d]; dW = (alpha / r) torch.kron(W1, W2).
The -blocks folders adapt GPT-2's Conv1D layers (c_attn, mlp.c_fc), which PEFT refuses: the engine's extension keeps
the nn.Linear orientation (dW [out, in]) and the same key names, with rank_pattern / alpha_pattern.
"""
import json, math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel
from make_gpt2_lora_golden import HERE, finish, pattern_value, read_safetensors


def factorization(dimension, factor=-1):
    """PEFT's lokr.layer.factorization, restated."""
    if factor > 0 and dimension % factor == 0:
        return factor, dimension // factor
    if factor == -1:
        factor = dimension
    m, n = 1, dimension
    while m < n:
        new_m = m + 1
        while dimension % new_m != 0:
            new_m += 1
        if new_m > factor:
            break
        m, n = new_m, dimension // new_m
    return (n, m) if m > n else (m, n)


def lycoris_config(peft_type, **fields):
    """The fields of PEFT's LoHaConfig / LoKrConfig as save_pretrained writes them."""
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "r": 8, "alpha": 8, "rank_dropout": 0.0, "module_dropout": 0.0,
              "use_effective_conv2d": False, "target_modules": ["lm_head"], "exclude_modules": None, "init_weights": True,
              "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {}}
    if peft_type == "LOKR":
        config.update(decompose_both=False, decompose_factor=-1, rank_dropout_scale=False)
    config.update(fields)
    return config


def loha_tensors(config, path, out_f, in_f, g):
    r = pattern_value(config["rank_pattern"], path, config["r"])
    key = f"base_model.model.{path}"
    # Non-zero everywhere (PEFT's init zeroes w2_b): a trained adapter.
    return {key + ".hada_w1_a": 0.5 * torch.randn(out_f, r, generator=g), key + ".hada_w1_b": 0.5 * torch.randn(r, in_f, generator=g),
            key + ".hada_w2_a": 0.5 * torch.randn(out_f, r, generator=g), key + ".hada_w2_b": 0.5 * torch.randn(r, in_f, generator=g)}


def loha_delta(config, path, t):
    r = pattern_value(config["rank_pattern"], path, config["r"])
    s = pattern_value(config["alpha_pattern"], path, config["alpha"]) / r
    k = f"base_model.model.{path}"
    return (t[k + ".hada_w1_a"] @ t[k + ".hada_w1_b"]) * (t[k + ".hada_w2_a"] @ t[k + ".hada_w2_b"]) * s


def lokr_tensors(config, path, out_f, in_f, g):
    r = pattern_value(config["rank_pattern"], path, config["r"])
    a, b = factorization(out_f, config["decompose_factor"])
    c, d = factorization(in_f, config["decompose_factor"])
    key = f"base_model.model.{path}"
    t = {}
    if config["decompose_both"] and r < max(a, c) / 2:
        t[key + ".lokr_w1_a"], t[key + ".lokr_w1_b"] = torch.randn(a, r, generator=g), torch.randn(r, c, generator=g)
    else:
        t[key + ".lokr_w1"] = torch.randn(a, c, generator=g)
    if r >= max(b, d) / 2:
        t[key + ".lokr_w2"] = 0.5 * torch.randn(b, d, generator=g)
    else:
        t[key + ".lokr_w2_a"], t[key + ".lokr_w2_b"] = 0.5 * torch.randn(b, r, generator=g), 0.5 * torch.randn(r, d, generator=g)
    return t


def lokr_delta(config, path, t):
    r = pattern_value(config["rank_pattern"], path, config["r"])
    s = pattern_value(config["alpha_pattern"], path, config["alpha"]) / r
    k = f"base_model.model.{path}"
    w1 = t[k + ".lokr_w1"] if k + ".lokr_w1" in t else t[k + ".lokr_w1_a"] @ t[k + ".lokr_w1_b"]
    w2 = t[k + ".lokr_w2"] if k + ".lokr_w2" in t else t[k + ".lokr_w2_a"] @ t[k + ".lokr_w2_b"]
    return torch.kron(w1, w2) * s


def base_model(seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    return model


def make_head(folder, config, make_tensors, delta, seed):
    """PEFT's own case: the tied lm_head (nn.Linear [vocab, n_embd]) adapted; its base weight saved beside the adapter."""
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    tensors = make_tensors(config, "lm_head", CONFIG["vocab_size"], CONFIG["n_embd"], g)
    trainable = list(tensors)
    tensors["base_model.model.lm_head.base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: x @ head.weight.T + x @ delta(config, "lm_head", tensors).T
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def make_blocks(folder, config, make_tensors, delta, seed):
    """The engine's extension: GPT-2's Conv1D c_attn and mlp.c_fc (weight [in, out]) adapted with dW [out, in]."""
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("mlp.c_fc", block.mlp.c_fc)]:
            path = f"transformer.h.{i}.{name}"
            in_f, out_f = conv.weight.shape
            tensors.update(make_tensors(config, path, out_f, in_f, g))
            conv.forward = lambda x, conv=conv, path=path: x @ conv.weight + conv.bias + x @ delta(config, path, tensors).T
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def main():
    make_head("gpt2-tiny-loha", lycoris_config("LOHA", r=4, alpha=6), loha_tensors, loha_delta, 31)
    # lm_head [64, 32]: 64 = 8 x 8, 32 = 4 x 8; rank 2 < 8 / 2 splits both W1 (decompose_both) and W2.
    make_head("gpt2-tiny-lokr", lycoris_config("LOKR", r=2, alpha=3, decompose_both=True), lokr_tensors, lokr_delta, 32)
    blocks = ["c_attn", "mlp.c_fc"]
    make_blocks("gpt2-tiny-loha-blocks", lycoris_config("LOHA", r=2, alpha=4, target_modules=blocks,
                rank_pattern={r"h\.1\.attn\.c_attn": 3}, alpha_pattern={"mlp.c_fc": 5}), loha_tensors, loha_delta, 33)
    # c_attn 96 x 32 = (8 x 12) x (4 x 8): rank 8 keeps W2 whole; mlp.c_fc at rank 2 (rank_pattern) splits it.
    make_blocks("gpt2-tiny-lokr-blocks", lycoris_config("LOKR", r=8, alpha=4, target_modules=blocks,
                rank_pattern={"mlp.c_fc": 2}, alpha_pattern={r"h\.0\.attn\.c_attn": 12}), lokr_tensors, lokr_delta, 34)


if __name__ == "__main__":
    main()

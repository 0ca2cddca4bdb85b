"""Writes gpt2-tiny-{flora,flora-peft,diffora,diffora-kept}/: the issue-17 methods FLoRA and DiffoRA for gpt2-tiny in
the engine's PEFT-style layout (neither is in Hugging Face PEFT: engine peft_types "FLORA" and "DIFFORA"), the adapter
math written in plain PyTorch, with the golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss,
grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_flora_diffora_golden.py

FLoRA (SJTU-DeepVisionLab/FLoRA flora/layers.py, FLoRALayer.forward style 'v2' and Linear.forward): keys
  flora_layer.param_G [r0, r1], flora_layer.param_0 [in, r0], flora_layer.param_1 [out, r1];
  dW = scale * tensordot(tensordot(G, P0, [[0], [1]]), P1, [[0], [1]]).transpose(0, 1) [out, in];
  y = base(x) + F.linear(x, dW). "flora-peft" is the same tensors with the Subspace-Tuning scale alpha / r.
DiffoRA (the engine's reading of arXiv 2502.08905; no public code): keys lora_A.weight [r, in], lora_B.weight [out, r]
  and, during the search, diffora_gate [1]; y = base(x) + sigmoid(g) * (alpha / r) * (x A^T) B^T. After the
  discretisation (kept_modules set) the kept modules are plain LoRA and the others hold nothing.
GPT-2's Conv1D stores its weight [in, out]: base(x) = x @ W + b.
"""
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model

VOCAB = CONFIG["vocab_size"]


def config_of(peft_type, targets, **fields):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "target_modules": targets, "exclude_modules": None,
              "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None}
    config.update(fields)
    return config


def modules(model, names):
    for i, block in enumerate(model.transformer.h):
        for name in names:
            yield block.get_submodule(name), f"transformer.h.{i}.{name}"


def make_flora(folder, config, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    r0, r1 = config["r"]
    scale = config["scale"] if config["init_weights"] in ("flora", "random") else config["lora_alpha"] / r0
    for conv, path in modules(model, ["attn.c_attn", "mlp.c_fc"]):
        key = f"base_model.model.{path}.flora_layer"
        in_f, out_f = conv.weight.shape
        # Trained-looking: every tensor non-zero (the init has G = 0).
        tensors[key + ".param_G"] = 0.4 * torch.randn(r0, r1, generator=g)
        tensors[key + ".param_0"] = 0.4 * torch.randn(in_f, r0, generator=g)
        tensors[key + ".param_1"] = 0.4 * torch.randn(out_f, r1, generator=g)

        def forward(x, conv=conv, key=key):
            dt = torch.tensordot(tensors[key + ".param_G"], tensors[key + ".param_0"], dims=[[0], [1]])
            dt = torch.tensordot(dt, tensors[key + ".param_1"], dims=[[0], [1]])
            dw = scale * dt.transpose(0, 1)
            return x @ conv.weight + conv.bias + torch.nn.functional.linear(x, dw)
        conv.forward = forward
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def flora_config(**fields):
    config = config_of("FLORA", ["c_attn", "c_fc"], N=2, r=[3, 4], scale=2.0, lora_alpha=1.0, drop_rate=0.0, init_weights="flora")
    config.update(fields)
    return config


def make_diffora(folder, config, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    r, s = config["r"], config["lora_alpha"] / config["r"]
    kept = config["kept_modules"]
    for conv, path in modules(model, ["attn.c_attn", "mlp.c_fc"]):
        if kept is not None and path not in kept:
            continue  # a dropped module: no tensors, the base layer only
        key = f"base_model.model.{path}"
        in_f, out_f = conv.weight.shape
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, in_f, generator=g)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(out_f, r, generator=g)
        if kept is None:
            tensors[key + ".diffora_gate"] = torch.randn(1, generator=g)

        def forward(x, conv=conv, key=key):
            lora = (x @ tensors[key + ".lora_A.weight"].T) @ tensors[key + ".lora_B.weight"].T * s
            if kept is None:
                lora = torch.sigmoid(tensors[key + ".diffora_gate"]) * lora
            return x @ conv.weight + conv.bias + lora
        conv.forward = forward
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def diffora_config(**fields):
    config = config_of("DIFFORA", ["c_attn", "c_fc"], r=4, lora_alpha=8.0, lora_dropout=0.0, init_lora_weights=True,
                       gate_init=0.0, search_steps=None, keep_ratio=0.5, kept_modules=None)
    config.update(fields)
    return config


if __name__ == "__main__":
    make_flora("gpt2-tiny-flora", flora_config(), 1701)
    make_flora("gpt2-tiny-flora-peft", flora_config(r=[4, 4], lora_alpha=6.0, init_weights="peft"), 1702)
    make_diffora("gpt2-tiny-diffora", diffora_config(), 1703)
    make_diffora("gpt2-tiny-diffora-kept", diffora_config(search_steps=10, kept_modules=["transformer.h.0.attn.c_attn", "transformer.h.1.mlp.c_fc"]), 1704)

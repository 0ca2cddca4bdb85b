"""Writes gpt2-tiny-sltrain/ (the paper's form: the adapter replaces the weight) and gpt2-tiny-sltrain-additive/ (the
engine's fine-tuning form, over W0): SLTrain (arXiv 2406.02214) adapters for gpt2-tiny in PEFT's file layout with the
engine's peft_type "SLTRAIN" (PEFT has no such method), the math written in plain PyTorch after the reference
andyjm3/SLTrain splora/splora_linear.py (SpLoRaLinear and sparse-lora/sparse_linear.cpp: W = B (s A), then the values
scatter-added at the flat row-major positions, then linear), with the golden.safetensors contents of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's
python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_sltrain_golden.py

Keys (no ".weight"): sltrain_A [r, in], sltrain_B [out, r], sltrain_index [k] (int64, sorted flat positions i*in + j:
the support, saved), sltrain_value [k], sltrain_bias [out] (replace form only), sltrain_scaling [1] (trainable_scaling:
s = tanh(theta), else s = lora_alpha / r). GPT-2's Conv1D layers (weight [in, out]) are adapted with W [out, in], the
nn.Linear orientation. Replace form: y = x W^T + sltrain_bias, the Conv1D's weight and bias unused; additive form:
y = conv(x) + x W^T.
"""
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model


def sltrain_config(**fields):
    config = {"peft_type": "SLTRAIN", "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "target_modules": ["c_attn", "mlp.c_fc"], "exclude_modules": None,
              "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None,
              "r": 4, "lora_alpha": 8, "sp_ratio": 0.05, "trainable_scaling": False, "replace_weight": True}
    config.update(fields)
    return config


def dense_weight(t, key, config):
    """The reference's forward: W = lora_B @ (lora_A * scale), then scatter_add_ of the values at the flat positions."""
    a = t[key + ".sltrain_A"]
    s = t[key + ".sltrain_scaling"].tanh() if config["trainable_scaling"] else config["lora_alpha"] / config["r"]
    w = t[key + ".sltrain_B"] @ (a * s)
    return w.reshape(-1).scatter_add(0, t[key + ".sltrain_index"], t[key + ".sltrain_value"]).reshape(w.shape)


def make(folder, config, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    r, tensors, trainable = config["r"], {}, []
    for i, block in enumerate(model.transformer.h):
        for name in ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]:
            if not any(name.endswith(t) for t in config["target_modules"]):
                continue
            conv = block.get_submodule(name)
            key = f"base_model.model.transformer.h.{i}.{name}"
            in_f, out_f = conv.weight.shape
            k = int(config["sp_ratio"] * in_f * out_f)
            index, _ = torch.sort(torch.randperm(in_f * out_f, generator=g)[:k])
            # Trained-looking tensors: B is no longer zero, the values moved from their start.
            t = {key + ".sltrain_A": (torch.rand(r, in_f, generator=g) * 2 - 1) / in_f ** 0.5,
                 key + ".sltrain_B": 0.3 * torch.randn(out_f, r, generator=g),
                 key + ".sltrain_value": 0.5 * torch.randn(k, generator=g)}
            if config["replace_weight"]:
                t[key + ".sltrain_bias"] = 0.2 * torch.randn(out_f, generator=g)
            if config["trainable_scaling"]:
                t[key + ".sltrain_scaling"] = torch.tensor([0.7])
            trainable += list(t)
            t[key + ".sltrain_index"] = index
            tensors.update(t)
            if config["replace_weight"]:
                conv.forward = lambda x, key=key: x @ dense_weight(tensors, key, config).T + tensors[key + ".sltrain_bias"]
            else:
                conv.forward = lambda x, conv=conv, key=key: x @ conv.weight + conv.bias + x @ dense_weight(tensors, key, config).T
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def main():
    make("gpt2-tiny-sltrain", sltrain_config(trainable_scaling=True), 181)
    make("gpt2-tiny-sltrain-additive", sltrain_config(target_modules=["attn.c_proj"], r=2, lora_alpha=3, sp_ratio=0.1,
                                                      replace_weight=False), 182)


if __name__ == "__main__":
    main()

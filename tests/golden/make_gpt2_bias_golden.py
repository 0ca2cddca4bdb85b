"""Writes gpt2-tiny-lora-bias-only/ and gpt2-tiny-lora-bias-all/: LoRA adapters whose config trains biases of the base
model (PEFT's bias = "lora_only" / "all", tuners_utils.py _mark_only_adapters_as_trainable and
_get_learnable_bias_state_dict at 5d602fd), in Hugging Face PEFT's file layout, the math in plain PyTorch (no peft
package), with the golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss, grad.<key>,
logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_bias_golden.py

PEFT saves a trained bias under the model's state-dict key: a wrapped (targeted) layer's as
base_model.model.<path>.base_layer.bias, any other module's as base_model.model.<path>.bias (bias = "all" only).
lora_only: targets c_attn and mlp.c_proj; their biases are saved and trained, attn.c_proj's stays the model's.
all: targets c_attn; every bias of the model trains (ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj, ln_f).
The saved biases differ from gpt2-tiny's (as after training), so loading them changes the model.
"""
import os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel
from make_gpt2_lora_golden import HERE, adapt, base_config, finish, read_safetensors


def use_tensor_as_bias(module, tensor):
    # The module reads the saved (trainable) tensor in place of its own parameter.
    del module.bias
    module.bias = tensor


def make(folder, config, seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    d = CONFIG["n_embd"]
    targets = {}
    for i, block in enumerate(model.transformer.h):
        for name in ["attn.c_attn", "attn.c_proj", "mlp.c_proj"]:
            if any(name == t or name.endswith("." + t) for t in config["target_modules"]):
                targets[f"transformer.h.{i}.{name}"] = block.get_submodule(name)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in targets.items():
        key = f"base_model.model.{path}"
        inf, outf = conv.weight.shape
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(config["r"], inf, generator=g)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(outf, config["r"], generator=g)
    # The biases PEFT trains and saves, shifted away from the model's.
    for name, module in model.named_modules():
        bias = getattr(module, "bias", None)
        if not isinstance(bias, torch.nn.Parameter):
            continue
        wrapped = name in targets
        if config["bias"] != "all" and not wrapped:
            continue
        key = f"base_model.model.{name}" + (".base_layer.bias" if wrapped else ".bias")
        tensors[key] = bias.detach().clone() + 0.2 * torch.randn(bias.shape, generator=g)
        use_tensor_as_bias(module, tensors[key])
    adapt(model, config, tensors)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def main():
    make("gpt2-tiny-lora-bias-only", base_config(bias="lora_only", target_modules=["c_attn", "mlp.c_proj"], r=2), 31)
    make("gpt2-tiny-lora-bias-all", base_config(bias="all", target_modules=["c_attn"], r=2), 32)


if __name__ == "__main__":
    main()

"""Writes gpt2-tiny-alora/: an aLoRA adapter (Greenewald et al. 2025, "Activated LoRA"; LoraConfig's
alora_invocation_tokens, PEFT's ALoraLinearVariant and calculate_alora_offsets in lora/variants.py at 5d602fd) for
gpt2-tiny in Hugging Face PEFT's file layout, the math written in plain PyTorch (no peft package), with the same
golden.safetensors contents as make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after
make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_alora_golden.py

The file is a plain LoRA file (lora_A [r, in], lora_B [out, r] on c_attn and c_proj) whose adapter_config.json also
holds alora_invocation_tokens. PEFT's forward: for each row, offset = T - (start of the LAST occurrence of the
invocation tokens), None when they do not occur; positions j >= T - min(offset, T) get y = x W + b + s (x A^T) B^T,
the others (and every position of a row without the invocation) y = x W + b. The batch has three rows: the invocation
at 3; twice, at 2 and at 10 (the last counts); nowhere.
"""
import torch
from make_gpt2_golden import CONFIG, TIME
from make_gpt2_lora_golden import base_config, finish
from make_gpt2_loravar_golden import model_and_layers, scale

INVOCATION = [17, 42, 5]


def alora_offsets(ids, invocation):
    """PEFT's calculate_alora_offsets: T - start of the last occurrence per row, None without one."""
    n, offsets = len(invocation), []
    for row in ids.tolist():
        starts = [i for i in range(len(row) - n + 1) if row[i:i + n] == invocation]
        offsets.append(len(row) - starts[-1] if starts else None)
    return offsets


def alora_mask(ids, invocation):
    """PEFT's mask [B, T]: True on the last offsets[i] positions of row i."""
    t = ids.shape[1]
    offsets = torch.tensor([0 if o is None else min(o, t) for o in alora_offsets(ids, invocation)])
    return torch.arange(t).unsqueeze(0) >= (t - offsets).unsqueeze(1)


def make_alora(seed):
    config = base_config(alora_invocation_tokens=INVOCATION, r=4, lora_alpha=8)
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    # Random tokens without the invocation's first token, then the invocation put where each row wants it.
    ids = torch.randint(0, CONFIG["vocab_size"] - 1, (3, TIME), generator=g)
    ids[ids >= INVOCATION[0]] += 1
    for row, start in [(0, 3), (1, 2), (1, 10)]:
        ids[row, start:start + len(INVOCATION)] = torch.tensor(INVOCATION)
    assert alora_offsets(ids, INVOCATION) == [TIME - 3, TIME - 10, None]
    mask = alora_mask(ids, INVOCATION)

    tensors = {}
    for path, conv in layers:
        r, s = scale(config, path)
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, in_f, generator=g)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(out_f, r, generator=g)
        a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]

        def forward(x, conv=conv, a=a, b=b, s=s, in_f=in_f, out_f=out_f):
            # PEFT's ALoraLinearVariant.forward: the update added on the selected positions only.
            result = x @ conv.weight + conv.bias
            flat, x_flat, m = result.reshape(-1, out_f), x.reshape(-1, in_f), mask.reshape(-1)
            flat = flat.index_put((m.nonzero(as_tuple=True)[0],), flat[m] + (x_flat[m] @ a.T) @ b.T * s)
            return flat.reshape(result.shape)
        conv.forward = forward
    finish("gpt2-tiny-alora", config, tensors, list(tensors), model, ids)


def main():
    make_alora(45)


if __name__ == "__main__":
    main()

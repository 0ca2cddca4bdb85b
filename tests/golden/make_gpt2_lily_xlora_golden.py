"""Writes gpt2-tiny-lily/ (PEFT-exact), gpt2-tiny-lily-blocks/ (engine extension) and gpt2-tiny-xlora/ (PEFT-exact, with
its LoRA experts in subfolders): Lily and X-LoRA adapters for gpt2-tiny in Hugging Face PEFT's file layout, the adapter
math written in plain PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py
(logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_lily_xlora_golden.py

Lily (PEFT 5d602fd, lily/layer.py and lily/model.py): only nn.Linear is wrapped (GPT-2's Conv1D raises), so PEFT's
files for GPT-2 adapt lm_head (and save base_model.model.lm_head.base_layer.weight beside it). Keys lily_A.weight
[r, in], lily_B.weight [num_B r, out], lily_router.weight [num_B, r]; h = x A^T, p = mean over all tokens of
softmax(h R^T), B* = sum_e p_e B_e (B viewed [num_B, r, out]), y = base(x) + scaling h B*. After injection A is shared by
stride_A consecutive layers of one (target suffix, shape) group and B by the whole group; state_dict() then holds a
copy of a shared tensor under every layer's path.
The -blocks folder adapts GPT-2's Conv1D c_attn and mlp.c_fc of both blocks (the engine's extension; nn.Linear
orientation): stride_A = 2, so each target's two layers share A and B and the file holds equal copies.

X-LoRA (xlora/model.py, classifier.py, layer.py): see make_xlora below.
"""
import json, math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, ADAMW, finish, kept_logits, next_token_loss, read_safetensors


def base_model(seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    return model


def lily_config(**fields):
    """LilyConfig's fields as save_pretrained writes them."""
    config = {"peft_type": "LILY", "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "r": 4, "stride_A": 1, "num_B": 3, "scaling": 1.5,
              "target_modules": ["lm_head"], "exclude_modules": None, "modules_to_save": None, "layers_to_transform": None,
              "layers_pattern": None, "init_weights": True}
    config.update(fields)
    return config


def lily_delta(config, a, b, router):
    num_b = config["num_B"]

    def delta(x):
        experts = b.reshape(num_b, -1, b.shape[1])
        hidden = x @ a.T
        p = torch.softmax(hidden @ router.T, dim=-1).reshape(-1, num_b).mean(dim=0)
        return (hidden @ torch.einsum("e,eio->io", p, experts)) * config["scaling"]
    return delta


def lily_tensors(config, out_f, in_f, g):
    r, num_b = config["r"], config["num_B"]
    # Non-zero B (PEFT's init zeroes it): a trained adapter.
    return (0.4 * torch.randn(r, in_f, generator=g), 0.4 * torch.randn(num_b * r, out_f, generator=g),
            0.8 * torch.randn(num_b, r, generator=g))


def make_lily_head():
    config = lily_config()
    model = base_model(41)
    g = torch.Generator().manual_seed(141)
    head = model.lm_head
    a, b, router = lily_tensors(config, CONFIG["vocab_size"], CONFIG["n_embd"], g)
    k = "base_model.model.lm_head"
    tensors = {k + ".lily_A.weight": a, k + ".lily_B.weight": b, k + ".lily_router.weight": router}
    trainable = list(tensors)
    tensors[k + ".base_layer.weight"] = head.weight.detach().clone()
    delta = lily_delta(config, a, b, router)
    head.forward = lambda x: x @ head.weight.T + delta(x)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish("gpt2-tiny-lily", config, tensors, trainable, model, ids)


def finish_shared(folder, config, tensors, run, ids):
    """As finish, for tensors of which several keys hold the same torch tensor (Lily's shared A and B): the file holds a
    copy under every key, grad.<key> is the shared tensor's gradient, and AdamW steps each tensor once."""
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), {k: v.detach().clone() for k, v in tensors.items()})
    for p in run.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        logits = run(ids)
    golden_path = os.path.join(out, "golden.safetensors")
    golden = {"input_ids": ids, "logits": kept_logits(golden_path, ids, logits)}
    unique = list({id(t): t for t in tensors.values()}.values())
    for p in unique:
        p.requires_grad_(True)
    loss = next_token_loss(run(ids), ids)
    loss.backward()
    golden["loss"] = loss.detach()
    golden.update({f"grad.{k}": t.grad.clone() for k, t in tensors.items()})
    torch.optim.AdamW(unique, **ADAMW).step()
    with torch.no_grad():
        golden["logits_after_step"] = run(ids)
    write_safetensors(golden_path, golden)
    print(f"wrote {out}: {len(tensors)} keys ({len(unique)} distinct tensors), loss {loss.item():.6f}")


def make_lily_blocks():
    config = lily_config(r=3, stride_A=2, num_B=2, scaling=1.0, target_modules=["c_attn", "mlp.c_fc"])
    model = base_model(42)
    g = torch.Generator().manual_seed(142)
    tensors = {}
    shared = {}
    for name in ["attn.c_attn", "mlp.c_fc"]:
        for i, block in enumerate(model.transformer.h):
            conv = block.attn.c_attn if name == "attn.c_attn" else block.mlp.c_fc
            in_f, out_f = conv.weight.shape
            k = f"base_model.model.transformer.h.{i}.{name}"
            a, b, router = lily_tensors(config, out_f, in_f, g)
            if i > 0:  # layer 1 is in layer 0's stride_A block and group: both A and B are layer 0's
                a, b = shared[name]
            shared[name] = (a, b)
            tensors.update({k + ".lily_A.weight": a, k + ".lily_B.weight": b, k + ".lily_router.weight": router})
            delta = lily_delta(config, a, b, router)
            conv.forward = lambda x, conv=conv, delta=delta: x @ conv.weight + conv.bias + delta(x)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish_shared("gpt2-tiny-lily-blocks", config, tensors, model, ids)


def main():
    make_lily_head()
    make_lily_blocks()


if __name__ == "__main__":
    main()

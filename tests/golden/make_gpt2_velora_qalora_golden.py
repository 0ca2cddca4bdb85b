"""Writes gpt2-tiny-velora/, gpt2-tiny-velora-random/ and gpt2-tiny-qalora/: the VeLoRA and QA-LoRA variants of
PEFT's lora/variants.py and lora/velora.py (5d602fd) for gpt2-tiny in Hugging Face PEFT's file layout, the math in
plain PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py. Run after
make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_velora_qalora_golden.py

VeLoRA (velora_config; Miles et al. 2024; PEFT's VeloraLinearVariant + VeloraFunction): keys lora_A.weight [r, in],
  lora_B.weight [out, r] and lora_velora_embed [D] (D = ceil(in / num_groups); a persistent buffer, so PEFT saves it).
  The forward is plain LoRA's. In a training forward with gradients on, lora_A's input x is kept only as
  c[t, g] = <sub-token g of row t (zero-padded), v> and A's gradient is g^T (scale * (c ⊗ v))[:, :in]; the input's
  gradient g A is exact. v: "batch_average" sets it before each training forward to the normalised (float32) mean
  sub-token of x; "random" keeps the saved one. The gradients here are of such a training forward (the fixture has no
  dropout); logits and logits_after_step are of no-grad forwards (plain LoRA), as PEFT computes them.
QA-LoRA (use_qalora, qalora_group_size; Xu et al. 2023; PEFT's QALoraLinearVariant): lora_A.weight [r, in / g];
  y = x W + b + s ((in / g) * mean over each group of g consecutive inputs) A^T B^T. PEFT applies this to GPTQ layers
  only (a float layer ignores use_qalora); here the float base stands for the dequantised weights, and the file is
  what PEFT saves for such a layer.
"""
import math, os
import torch
import torch.nn.functional as F
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import base_config
from make_gpt2_loravar_golden import model_and_layers, run_and_finish, scale


def subtokens(x, groups):
    """Rows of x [..., in] as [rows, groups, D], zero-padded to groups * D features."""
    d = (x.shape[-1] + groups - 1) // groups
    x = F.pad(x, (0, groups * d - x.shape[-1]))
    return x.reshape(-1, groups, d)


def unit(v):
    v = v.float()
    n = torch.linalg.vector_norm(v)
    return torch.ones_like(v) / math.sqrt(v.numel()) if n == 0 else v / n


class Compressed(torch.autograd.Function):
    """h = x A^T; backward: exact input gradient, A's gradient from the rank-1 sub-token reconstruction."""

    @staticmethod
    def forward(ctx, x, a, v, groups, sc):
        ctx.shape, ctx.groups, ctx.sc = x.shape, groups, sc
        ctx.save_for_backward(torch.einsum("tgd,d->tg", subtokens(x, groups), v.to(x.dtype)), a, v)
        return F.linear(x, a)

    @staticmethod
    def backward(ctx, g):
        c, a, v = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g2 @ a).reshape(ctx.shape) if ctx.needs_input_grad[0] else None
        xhat = (c.unsqueeze(-1) * v.view(1, 1, -1)).reshape(c.shape[0], -1)[:, :ctx.shape[-1]] * ctx.sc
        return gx, g2.T @ xhat, None, None, None


def make_velora(folder, velora, seed):
    config = base_config(velora_config=velora, target_modules=["c_attn", "mlp.c_proj"], r=4, lora_alpha=8,
                         rank_pattern={r"h\.1\.mlp\.c_proj": 2})
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    groups = velora["num_groups"]
    tensors = {}
    for path, conv in layers:
        r, s = scale(config, path)
        in_f, out_f = conv.weight.shape
        d = (in_f + groups - 1) // groups
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, in_f, generator=g)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(out_f, r, generator=g)
        tensors[key + ".lora_velora_embed"] = unit(torch.randn(d, generator=g))
        a, b, v = (tensors[key + k] for k in (".lora_A.weight", ".lora_B.weight", ".lora_velora_embed"))

        def forward(x, conv=conv, a=a, b=b, v=v, s=s):
            if torch.is_grad_enabled():  # PEFT's training forward
                if velora["init_type"] != "random":
                    v = unit(subtokens(x.detach(), groups).reshape(-1, v.numel()).mean(0))
                h = Compressed.apply(x, a, v, groups, velora["scale"])
            else:
                h = x @ a.T
            return x @ conv.weight + conv.bias + h @ b.T * s
        conv.forward = forward
    trainable = [k for k in tensors if not k.endswith("lora_velora_embed")]
    run_and_finish(folder, config, model, tensors, trainable)


def make_qalora(seed):
    gs = 8
    config = base_config(use_qalora=True, qalora_group_size=gs, target_modules=["c_attn", "mlp.c_proj"], r=4, lora_alpha=6)
    model, layers = model_and_layers(seed, config)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in layers:
        r, s = scale(config, path)
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, in_f // gs, generator=g)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(out_f, r, generator=g)
        a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]

        def forward(x, conv=conv, a=a, b=b, s=s, in_f=in_f):
            pooled = x.reshape(-1, in_f // gs, gs).mean(dim=2) * (in_f // gs)
            delta = (pooled @ a.T @ b.T * s).reshape(*x.shape[:-1], -1)
            return x @ conv.weight + conv.bias + delta
        conv.forward = forward
    run_and_finish("gpt2-tiny-qalora", config, model, tensors, list(tensors))


def main():
    # 3 groups: c_attn's 32 inputs make sub-tokens of 11 (one padding zero), mlp.c_proj's 128 of 43.
    make_velora("gpt2-tiny-velora", {"num_groups": 3, "scale": 1.5, "init_type": "batch_average"}, 51)
    make_velora("gpt2-tiny-velora-random", {"num_groups": 4, "scale": 1.0, "init_type": "random"}, 52)
    make_qalora(53)


if __name__ == "__main__":
    main()

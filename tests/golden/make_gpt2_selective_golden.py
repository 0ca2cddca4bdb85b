"""Writes the golden folders of LN tuning, trainable tokens and adaption prompt for gpt2-tiny in Hugging Face PEFT's
file layout (PEFT 5d602fd: src/peft/tuners/ln_tuning, trainable_tokens, adaption_prompt), the adapter math written in
plain PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss,
grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_selective_golden.py

  gpt2-tiny-ln-tuning         LN tuning with PEFT's GPT-2 default targets ln_1, ln_2 (both blocks) and ln_f: each norm
                              replaced by a trained copy; keys <path>.ln_tuning_layers.weight / .bias.
  gpt2-tiny-trainable-tokens  Trainable tokens on transformer.wte, token_indices [3, 7, 11, 20]: E' = E.index_copy(0,
                              idx, delta); the tied lm_head uses E' too (PEFT ties a layer on lm_head to wte's);
                              key transformer.wte.trainable_tokens_delta [4, C] (full rows); lm_head is not saved.
  gpt2-tiny-adaption-prompt   Adaption prompt (LLaMA-Adapter) on the top adapter_layers = 1 attention (h.1), adapter_len
                              3: PEFT's AdaptedAttentionGPT adds g * softmax(q K_p^T / sqrt(d_h)) V_p to the attention's
                              output (after c_proj; no projection of the added term), K_p, V_p from c_attn(P) with its
                              bias, q the query of c_attn(x); keys h.1.attn.adaption_prompt [1, 3, C], .adaption_gate [1].
"""
import math
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model
from make_gpt2_elementwise_golden import config

C, V, H = CONFIG["n_embd"], CONFIG["vocab_size"], CONFIG["n_head"]


def make_ln_tuning(seed):
    cfg = config("LN_TUNING", target_modules=["ln_1", "ln_2", "ln_f"], exclude_modules=None, modules_to_save=None)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    norms = [(f"transformer.h.{i}.{n}", getattr(block, n)) for i, block in enumerate(model.transformer.h) for n in ("ln_1", "ln_2")]
    norms.append(("transformer.ln_f", model.transformer.ln_f))
    for path, ln in norms:
        key = f"base_model.model.{path}.ln_tuning_layers"
        tensors[key + ".weight"] = ln.weight.detach() + 0.3 * torch.randn(C, generator=g)
        tensors[key + ".bias"] = ln.bias.detach() + 0.3 * torch.randn(C, generator=g)
        # PEFT: the forward runs the trained copy in place of the norm.
        ln.forward = lambda x, ln=ln, key=key: torch.nn.functional.layer_norm(x, (C,), tensors[key + ".weight"], tensors[key + ".bias"], ln.eps)
    finish("gpt2-tiny-ln-tuning", cfg, tensors, list(tensors), model, torch.randint(0, V, (BATCH, TIME)))


def make_trainable_tokens(seed):
    indices = [3, 7, 11, 20]
    cfg = config("TRAINABLE_TOKENS", token_indices=indices, target_modules="transformer.wte", init_weights=True)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    wte = model.transformer.wte
    key = "base_model.model.transformer.wte.trainable_tokens_delta"
    index = torch.tensor(indices)
    tensors = {key: wte.weight.detach()[index] + 0.5 * torch.randn(len(indices), C, generator=g)}

    def table():
        return wte.weight.index_copy(0, index, tensors[key])
    wte.forward = lambda ids: torch.nn.functional.embedding(ids, table())
    model.lm_head.forward = lambda x: torch.nn.functional.linear(x, table())
    ids = torch.randint(0, V, (BATCH, TIME))
    ids[0, ::3] = 7
    ids[1, 1::4] = 20
    ids[1, 2] = 3
    finish("gpt2-tiny-trainable-tokens", cfg, tensors, list(tensors), model, ids)


def make_adaption_prompt(seed):
    n, layers = 3, 1
    cfg = config("ADAPTION_PROMPT", target_modules="attn", adapter_len=n, adapter_layers=layers)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for i in range(CONFIG["n_layer"] - layers, CONFIG["n_layer"]):
        attn = model.transformer.h[i].attn
        key = f"base_model.model.transformer.h.{i}.attn"
        tensors[key + ".adaption_prompt"] = torch.randn(1, n, C, generator=g)
        tensors[key + ".adaption_gate"] = torch.tensor([0.7])
        base_forward = attn.forward

        def forward(x, attn=attn, key=key, base_forward=base_forward):
            out = base_forward(x)
            b, t, _ = x.shape
            _, k, v = attn.c_attn(tensors[key + ".adaption_prompt"]).split(C, dim=2)
            k = k.view(1, n, H, C // H).repeat(b, 1, 1, 1).transpose(1, 2)
            v = v.view(1, n, H, C // H).repeat(b, 1, 1, 1).transpose(1, 2)
            q = attn.c_attn(x).split(C, dim=2)[0].view(b, t, H, C // H).transpose(1, 2)
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(C // H)
            scores = tensors[key + ".adaption_gate"] * torch.softmax(scores, dim=-1)
            return out + torch.matmul(scores, v).transpose(1, 2).reshape(b, t, -1)
        attn.forward = forward
    finish("gpt2-tiny-adaption-prompt", cfg, tensors, list(tensors), model, torch.randint(0, V, (BATCH, TIME)))


if __name__ == "__main__":
    make_ln_tuning(161)
    make_trainable_tokens(162)
    make_adaption_prompt(163)

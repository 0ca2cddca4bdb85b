"""Writes gpt2-tiny-dept/: a DePT adapter (decomposed prompt tuning, ZhengxiangShi/DePT peft/tuners/prompt_tuning_lora.py
and peft/peft_model.py, PeftModelForCausalLM.forward's PROMPT_TUNING_LORA branch) for gpt2-tiny in the reference's file
layout (peft_type "PROMPT_TUNING_LORA", keys prompt_embeddings, prompt_encoder.lora_embedding_A/B), the math in plain
PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss, grad.<key>,
logits_after_step: one AdamW step at one learning rate for all three tensors). Run after make_gpt2_golden.py, with
Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_dept_golden.py

inputs_embeds = wte(ids) + (lora_alpha / sqrt(r)) * (A @ B) (A [max_length, r], one row per input position: the
reference pads every input to max_length, here the input's length 16), then [P; inputs_embeds] with positions
0..m+T-1 over both; the golden logits are those of the real tokens.
"""
import math
import os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import GPT2LMHeadModel, HERE, finish, gpt2_forward, prompt_config, read_safetensors


def main():
    m, r, alpha, s = 4, 3, 6, TIME
    config = prompt_config("PROMPT_TUNING_LORA", m, prompt_tuning_init="RANDOM", prompt_tuning_init_text=None,
                           tokenizer_name_or_path=None, r=r, lora_alpha=alpha, bias="none", init_lora_weights=True,
                           hidden_size=CONFIG["n_embd"], max_length=s, save_lora_embeddings=True,
                           load_lora_embeddings=True, load_lora_embedding_B=True)
    torch.manual_seed(173)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    g = torch.Generator().manual_seed(174)
    d = CONFIG["n_embd"]
    # Trained-looking: P random, A from its Kaiming-uniform start, B moved off zero.
    tensors = {"prompt_embeddings": 0.3 * torch.randn(m, d, generator=g),
               "prompt_encoder.lora_embedding_A": (torch.rand(s, r, generator=g) * 2 - 1) / math.sqrt(r),
               "prompt_encoder.lora_embedding_B": 0.2 * torch.randn(r, d, generator=g)}
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    scaling = alpha / math.sqrt(r)

    def run(ids):
        b, t = ids.shape
        e = model.transformer.wte(ids) + scaling * (tensors["prompt_encoder.lora_embedding_A"] @ tensors["prompt_encoder.lora_embedding_B"]).repeat(b, 1, 1)
        p = tensors["prompt_embeddings"].unsqueeze(0).expand(b, -1, -1)
        return gpt2_forward(model, torch.cat([p, e], dim=1), torch.arange(m + t))[:, m:]
    for p in model.parameters():
        p.requires_grad_(False)
    finish("gpt2-tiny-dept", config, tensors, list(tensors), run, ids)


if __name__ == "__main__":
    main()

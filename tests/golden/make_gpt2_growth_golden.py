"""Writes gpt2-tiny-increlora/ and gpt2-tiny-triadaptlora/: the growing low-rank methods of issue 17 (not in Hugging
Face PEFT; the engine saves them in PEFT's layout with its own peft_type), as trained, grown adapters on GPT-2's
c_attn, the adapter math written in plain PyTorch after the reference codes, with the same golden.safetensors
contents as make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_growth_golden.py

IncreLoRA (FeiyuZhang98/IncreLoRA loralib/loralib/increlora.py, loraW): blocks lora_A.k, lora_E.k, lora_B.k (a torch
ParameterList each: block 0 of rank r, later blocks of rank 1, the last ones reserves whose lambda stays 1e-5 and
frozen); dW = alpha * cat(B) @ (cat(A) * cat(E)) / (ranknum + 1e-5), ranknum the current rank (reserves excluded).
TriAdaptLoRA (YaoLiang2023/DiverValue-Bench peft/src/peft/tuners/triadaptlora.py, loraW; the divisor of its backups):
blocks lora_A.i [a_i, in], lora_B.i [out, a_i], lora_C_row.i [a_i, S_i], lora_C_col.i [S_i, a_i];
C = (C_row blocks stacked, right-padded) + (C_col blocks side by side, bottom-padded); dW = alpha * B @ C @ A / (R + 1e-5).
"""
import torch
from make_gpt2_golden import CONFIG
from make_gpt2_lora_golden import common, make_other

ALPHA = 6.0


def make_increlora(d):
    r0, add_r = 2, 2
    grown = {0: 2, 1: 0}  # extra active rank-1 blocks per layer
    config = common("INCRELORA", r=r0, target_rank=4, target_total_rank=None, init_warmup=10, incre_interval=10, top_h=2,
                    incre_rank_num=add_r, advance_learn=True, beta1=0.85, beta2=0.85, orth_reg_weight=0.1, weight_decay=0.0,
                    total_step=100, lora_alpha=ALPHA, lora_dropout=0.0, rank_pattern={}, reserve_pattern={})
    g = torch.Generator().manual_seed(41)
    tensors, trainable, ranknum = {}, [], {}
    for i in range(CONFIG["n_layer"]):
        path = f"transformer.h.{i}.attn.c_attn"
        key = f"base_model.model.{path}"
        config["rank_pattern"][path] = ranknum[path] = r0 + grown[i]
        config["reserve_pattern"][path] = add_r
        blocks = 1 + grown[i] + add_r
        for k in range(blocks):
            r = r0 if k == 0 else 1
            reserve = k > grown[i]
            tensors[f"{key}.lora_A.{k}"] = 0.3 * torch.randn(r, d, generator=g)
            tensors[f"{key}.lora_E.{k}"] = torch.full((r, 1), 1e-5) if reserve else torch.randn(r, 1, generator=g)
            tensors[f"{key}.lora_B.{k}"] = 0.3 * torch.randn(3 * d, r, generator=g)
            trainable += [f"{key}.lora_A.{k}", f"{key}.lora_B.{k}"] + ([] if reserve else [f"{key}.lora_E.{k}"])

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if path not in ranknum:
            return None
        n = 1 + (ranknum[path] - r0) + add_r

        def forward(x):
            a = torch.cat([tensors[f"{key}.lora_A.{k}"] for k in range(n)], 0)
            e = torch.cat([tensors[f"{key}.lora_E.{k}"] for k in range(n)], 0)
            b = torch.cat([tensors[f"{key}.lora_B.{k}"] for k in range(n)], 1)
            delta = b @ (a * e) * ALPHA / (ranknum[path] + 1e-5)
            return x @ conv.weight + conv.bias + x @ delta.T
        return forward
    make_other("gpt2-tiny-increlora", config, tensors, layer, 41, trainable)


def make_triadaptlora(d):
    sizes = {0: [1, 3], 1: [1, 2, 4]}
    config = common("TRIADAPTLORA", reference_rank=4, init_rank=1, init_warmup=0, incre_interval=1, top_k=1, orth_reg_weight=0.5,
                    weight_decay=0.0, rank_growth_model="linear", incre_rank_num=2, total_step=100, target_total_rank=None,
                    lora_alpha=ALPHA, lora_dropout=0.0, init_weights="eye", b_init_std=0.0,
                    rank_pattern={}, block_pattern={}, norm_pattern={})
    g = torch.Generator().manual_seed(42)
    tensors = {}
    for i in range(CONFIG["n_layer"]):
        path = f"transformer.h.{i}.attn.c_attn"
        key = f"base_model.model.{path}"
        config["block_pattern"][path] = sizes[i]
        config["rank_pattern"][path] = sizes[i][-1]
        config["norm_pattern"][path] = 0.25 * (i + 1)
        prev = 0
        for j, s in enumerate(sizes[i]):
            a = s - prev
            tensors[f"{key}.lora_A.{j}"] = 0.3 * torch.randn(a, d, generator=g)
            tensors[f"{key}.lora_B.{j}"] = 0.3 * torch.randn(3 * d, a, generator=g)
            tensors[f"{key}.lora_C_row.{j}"] = torch.randn(a, s, generator=g)
            tensors[f"{key}.lora_C_col.{j}"] = torch.randn(s, a, generator=g)
            prev = s

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if path not in config["block_pattern"]:
            return None
        n = len(config["block_pattern"][path])

        def forward(x):
            rows = [tensors[f"{key}.lora_C_row.{j}"] for j in range(n)]
            cols = [tensors[f"{key}.lora_C_col.{j}"] for j in range(n)]
            r = rows[-1].size(1)
            lower = torch.cat([torch.cat([c, torch.zeros(c.size(0), r - c.size(1))], 1) for c in rows], 0)
            upper = torch.cat([torch.cat([c, torch.zeros(r - c.size(0), c.size(1))], 0) for c in cols], 1)
            a = torch.cat([tensors[f"{key}.lora_A.{j}"] for j in range(n)], 0)
            b = torch.cat([tensors[f"{key}.lora_B.{j}"] for j in range(n)], 1)
            delta = b @ ((lower + upper) @ a) * ALPHA / (r + 1e-5)
            return x @ conv.weight + conv.bias + x @ delta.T
        return forward
    make_other("gpt2-tiny-triadaptlora", config, tensors, layer, 42)


if __name__ == "__main__":
    make_increlora(CONFIG["n_embd"])
    make_triadaptlora(CONFIG["n_embd"])

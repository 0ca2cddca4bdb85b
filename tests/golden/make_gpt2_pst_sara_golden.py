"""Writes gpt2-tiny-pst/ (and gpt2-tiny-sara/): the engine's PST and SaRA adapters (issue 18; no PEFT method) for
gpt2-tiny in PEFT's file layout, the math in plain PyTorch after the reference code, with the golden.safetensors
contents of make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_pst_sara_golden.py

PST (AliceMind S4/PST/pst/sparse.py, SparseLinear with pruning_method "pst"), on GPT-2's Conv1D c_attn in the
nn.Linear orientation (W [out, in] = conv.weight.T): keys weight_U [out, r_w], weight_V [r_w, in], mask_scores_A
[out, r_m], mask_scores_B [r_m, in], mask_scores_R [out], mask_scores_C [in], num_prune (int64 [1], the reference's
int(numel * cur_sparsity)); W' = W + beta U V, S = |W'| + alpha1 A B + alpha2 (R 1^T + 1 C^T), the num_prune lowest
scores masked (SparseBinarizer, straight-through backward), y = x (M * W')^T + b.
SaRA (sjtuplayer/SaRA optim/adamw2.py, the engine's adapter reading): on c_attn, P = {|W0| < threshold} listed as flat
row-major positions sara_positions (int64 [k], ascending, torch.nonzero's order) with values sara_values [k];
W = W0 + scatter(values at P), y = x W^T + b; the gradient of the values is the dense gradient gathered at P.
"""
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lycoris_golden import base_model
from make_gpt2_lora_golden import finish


def config_of(peft_type, targets, **fields):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
              "inference_mode": True, "target_modules": targets, "exclude_modules": None, "layers_to_transform": None,
              "layers_pattern": None, "modules_to_save": None}
    config.update(fields)
    return config


class SparseBinarizer(torch.autograd.Function):
    """The reference's binariser: zero the num_prune lowest scores; the gradient passes straight through."""

    @staticmethod
    def forward(ctx, scores, num_prune):
        # Contiguous: the scores of a transposed Conv1D weight keep its strides, and reshape would then copy.
        mask = torch.ones(scores.shape, dtype=scores.dtype)
        mask.reshape(-1)[torch.argsort(scores.reshape(-1))[:num_prune]] = 0.0
        return mask

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def make_pst(folder, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    rw, rm, beta, alpha1, alpha2, sparsity = 3, 2, 0.5, 0.8, 1.5, 0.4
    config = config_of("PST", ["c_attn"], weight_rank=rw, weight_beta=beta, mask_rank=rm, mask_alpha1=alpha1,
                       mask_alpha2=alpha2, sparsity=0.9, initial_sparsity=0.0, initial_warmup=0.1, final_warmup=0.3,
                       total_step=100)
    tensors, trainable = {}, []
    for i, block in enumerate(model.transformer.h):
        conv = block.attn.c_attn
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.transformer.h.{i}.attn.c_attn"
        # Trained-looking: every factor moved off its zero start (scores of order |W| ~ 0.02).
        t = {key + ".weight_U": torch.randn(out_f, rw, generator=g), key + ".weight_V": 0.01 * torch.randn(rw, in_f, generator=g),
             key + ".mask_scores_A": torch.randn(out_f, rm, generator=g), key + ".mask_scores_B": 0.01 * torch.randn(rm, in_f, generator=g),
             key + ".mask_scores_R": 0.01 * torch.randn(out_f, generator=g), key + ".mask_scores_C": 0.01 * torch.randn(in_f, generator=g)}
        tensors.update(t)
        trainable += list(t)
        num_prune = int(out_f * in_f * sparsity)
        tensors[key + ".num_prune"] = torch.tensor([num_prune], dtype=torch.int64)

        def forward(x, conv=conv, key=key, num_prune=num_prune):
            weight = conv.weight.T + beta * tensors[key + ".weight_U"] @ tensors[key + ".weight_V"]
            scores = weight.abs() + alpha1 * tensors[key + ".mask_scores_A"] @ tensors[key + ".mask_scores_B"] + \
                alpha2 * (tensors[key + ".mask_scores_R"].unsqueeze(1) + tensors[key + ".mask_scores_C"].unsqueeze(0))
            return torch.nn.functional.linear(x, SparseBinarizer.apply(scores, num_prune) * weight, conv.bias)
        conv.forward = forward
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def make_sara(folder, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    threshold = 0.015
    config = config_of("SARA", ["c_attn"], threshold=threshold, lr=None, use_job_lr=False, lambda_rank=0.0,
                       nuclear_min_dim=64, progressive_iter=-1)
    tensors, trainable = {}, []
    for i, block in enumerate(model.transformer.h):
        conv = block.attn.c_attn
        key = f"base_model.model.transformer.h.{i}.attn.c_attn"
        w0 = conv.weight.T.contiguous()
        positions = torch.nonzero((w0.abs() < threshold).reshape(-1)).reshape(-1).to(torch.int64)
        tensors[key + ".sara_positions"] = positions
        # Trained-looking values, of the order of the selected entries themselves.
        tensors[key + ".sara_values"] = 0.01 * torch.randn(positions.numel(), generator=g)
        trainable.append(key + ".sara_values")

        def forward(x, conv=conv, key=key):
            w = conv.weight.T.contiguous()
            delta = torch.zeros(w.numel()).index_add(0, tensors[key + ".sara_positions"], tensors[key + ".sara_values"])
            return torch.nn.functional.linear(x, w + delta.reshape(w.shape), conv.bias)
        conv.forward = forward
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def main():
    make_pst("gpt2-tiny-pst", 181)
    make_sara("gpt2-tiny-sara", 182)


if __name__ == "__main__":
    main()

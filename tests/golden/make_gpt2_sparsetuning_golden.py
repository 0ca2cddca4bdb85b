"""Writes the sparse-tuning family's golden folders (SPT and SNELL, issue 18) for gpt2-tiny in the engine's PEFT-layout
files, the adapter math written in plain PyTorch after the reference code (no peft package: neither method is in PEFT),
with the golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step).
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_sparsetuning_golden.py

GPT-2's Conv1D stores its weight [in, out], which is the orientation of SNELL's kernel in the reference
(ssfgunner/SNELL model/vision_transformer_timm.py: pathIntegrals() is [in, out] and the layer adds x @ W_fc), so the
kernels below are written exactly as the reference writes them.
  gpt2-tiny-snell         SNELL (tau = 0.7, q = 4, H = 2) on c_attn and mlp.c_proj: snell_in_qs [H, in, q/H],
                          snell_out_qs [H, out, q/H]; W_fc = sum_h c_h cdist(In_Qs, Out_Qs)[h], c = (+0.1, -0.1);
                          t = torch.quantile(|W_fc|, tau) (detached), W_s = W_fc * threshold(|W_fc|.detach(), t, 0).
  gpt2-tiny-snell-dense   SNELL with tau = 0 (the reference's KLoRA: the dense kernel) on attn.c_proj, q = 6.
  gpt2-tiny-spt           SPT with a fixed allocation (the sensitivity step is tested in C#): c_attn of block 0 and
                          mlp.c_fc of block 1 structured (spt_lora_A [r, in], spt_lora_B [out, r],
                          added as B A x with no scale, the reference's nn.Sequential of two bias-free Linears),
                          three others unstructured: spt_values [g] at spt_indices [g] (int64, ascending flat
                          row-major positions of the nn.Linear-oriented [out, in] weight, i.e. of Conv1D's weight.T;
                          the reference's torch.nonzero of its mask), W_eff = W + scatter_add(indices, values).
"""
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model
from make_gpt2_elementwise_golden import config, blocks

V = CONFIG["vocab_size"]
SCALE = 1.0  # the spread of the trained-looking SNELL factors


def ids_for():
    return torch.randint(0, V, (BATCH, TIME))


def snell_kernel(in_qs, out_qs, scale=0.1):
    """The reference's pathIntegrals: sum over h of (-1)^h * scale * cdist(In_Qs[h], Out_Qs[h]), [in, out]."""
    h = in_qs.shape[0]
    coeff = scale * torch.tensor([(-1) ** i for i in range(h)], dtype=in_qs.dtype).unsqueeze(1).unsqueeze(2)
    return torch.sum(coeff * torch.cdist(in_qs, out_qs, p=2), dim=0)


def snell_sparsify(w, tau):
    """The reference's SNELL.sparsify: keep |w| > quantile(|w|, tau) as w * |w| (the magnitudes detached)."""
    if tau == 0:
        return w
    w_abs = w.detach().abs()
    thres = torch.quantile(w_abs.flatten(), tau)
    return w * torch.nn.functional.threshold(w_abs, float(thres), 0)


def make_snell(folder, seed, targets, q, tau, h=2):
    cfg = config("SNELL", target_modules=targets, modules_to_save=None, low_rank_dim=q, init_thres=tau, num_hs=h,
                 norm_p=2.0, scale_factor_fc=0.1, snell_dropout=0.0)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in blocks(model, targets):
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.{path}"
        # Trained-looking factors: wider than the Kaiming start so the kernel visibly moves the logits.
        tensors[key + ".snell_in_qs"] = SCALE * torch.randn(h, in_f, q // h, generator=g)
        tensors[key + ".snell_out_qs"] = SCALE * torch.randn(h, out_f, q // h, generator=g)

        def forward(x, conv=conv, key=key):
            w = snell_sparsify(snell_kernel(tensors[key + ".snell_in_qs"], tensors[key + ".snell_out_qs"]), tau)
            return x @ conv.weight + conv.bias + x @ w
        conv.forward = forward
    finish(folder, cfg, tensors, list(tensors), model, ids_for())


def make_spt(seed):
    r = 2
    structured = ["transformer.h.0.attn.c_attn", "transformer.h.1.mlp.c_fc"]
    sparse = {"transformer.h.0.mlp.c_proj": 50, "transformer.h.1.attn.c_attn": 80, "transformer.h.1.attn.c_proj": 30}
    cfg = config("SPT", target_modules=structured + list(sparse), modules_to_save=None, low_rank_dim=r, alpha=10.0,
                 structured_type="lora", sensitivity_batch_num=8, budget=600, sweep_step=12, lora_dropout=0.0,
                 structured_modules=structured, sparse_counts=sparse)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors, trainable = {}, []
    for path, conv in blocks(model, ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]):
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.{path}"
        if path in structured:
            tensors[key + ".spt_lora_A"] = 0.3 * torch.randn(r, in_f, generator=g)
            tensors[key + ".spt_lora_B"] = 0.3 * torch.randn(out_f, r, generator=g)
            trainable += [key + ".spt_lora_A", key + ".spt_lora_B"]
            # The reference's nn.Sequential(Linear(in, r), Linear(r, out)), both bias-free, added unscaled.
            conv.forward = lambda x, conv=conv, key=key: (x @ conv.weight + conv.bias
                                                          + (x @ tensors[key + ".spt_lora_A"].T) @ tensors[key + ".spt_lora_B"].T)
        elif path in sparse:
            positions = torch.randperm(in_f * out_f, generator=g)[:sparse[path]].sort().values
            tensors[key + ".spt_indices"] = positions
            tensors[key + ".spt_values"] = 0.5 * torch.randn(sparse[path], generator=g)
            trainable.append(key + ".spt_values")

            def forward(x, conv=conv, key=key, in_f=in_f, out_f=out_f):
                delta = torch.zeros(out_f * in_f).scatter_add(0, tensors[key + ".spt_indices"], tensors[key + ".spt_values"])
                return x @ conv.weight + conv.bias + x @ delta.reshape(out_f, in_f).T
            conv.forward = forward
    finish("gpt2-tiny-spt", cfg, tensors, trainable, model, ids_for())


def main():
    make_snell("gpt2-tiny-snell", 61, ["attn.c_attn", "mlp.c_proj"], 4, 0.7)
    make_snell("gpt2-tiny-snell-dense", 62, ["attn.c_proj"], 6, 0.0)
    make_spt(63)


if __name__ == "__main__":
    main()

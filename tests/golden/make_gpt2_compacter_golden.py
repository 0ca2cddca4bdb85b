"""Writes gpt2-tiny-compacter/: a Compacter adapter (engine peft_type "COMPACTER", not in PEFT) for gpt2-tiny in PEFT's
file layout, the adapter math written in plain PyTorch after AdapterHub/adapters src/adapters/methods/modeling.py
(Adapter with phm_layer, PHMLayer.forward, kronecker_product), with the golden.safetensors contents of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_compacter_golden.py

After attn.c_proj and mlp.c_proj (width d = 32, reduction_factor 4: bottleneck m = 8, phm_dim n = 4, phm_rank 2):
h = x W + b; y = h + PHM_up(gelu(PHM_down(h))), PHM(z) = z H + bias with H = sum_i kron(phm_rule_i, W_left_i W_right_i).
The rules base_model.phm_rule [n, n, n] are shared by the four adapters; per layer adapter_down.W_left [n, d/n, 2],
adapter_down.W_right [n, 2, m/n], adapter_down.b [m], adapter_up.W_left [n, m/n, 2], adapter_up.W_right [n, 2, d/n],
adapter_up.b [d]. All values trained-looking (non-zero).
"""
import torch
import torch.nn.functional as F
from make_gpt2_lora_golden import common, make_other


def kronecker_product(a, b):
    """AdapterHub's batched Kronecker product: [..., p, q] x [..., s, t] -> [..., p s, q t]."""
    size = torch.Size(torch.tensor(a.shape[-2:]) * torch.tensor(b.shape[-2:]))
    res = a.unsqueeze(-1).unsqueeze(-3) * b.unsqueeze(-2).unsqueeze(-4)
    return res.reshape(res.shape[:-4] + size)


def make_compacter(d):
    n, rank, m = 4, 2, d // 4
    config = common("COMPACTER", target_modules=["attn.c_proj", "mlp.c_proj"], reduction_factor=4, non_linearity="gelu",
                    phm_dim=n, phm_rank=rank, factorized_phm_W=True, shared_phm_rule=True, shared_W_phm=False,
                    factorized_phm_rule=False, phm_c_init="normal", phm_init_range=1e-4,
                    hypercomplex_nonlinearity="glorot-uniform", learn_phm=True, phm_bias=True)
    del config["fan_in_fan_out"]
    g = torch.Generator().manual_seed(53)
    tensors = {"base_model.phm_rule": 0.5 * torch.randn(n, n, n, generator=g)}
    for i in range(2):
        for name in ["attn.c_proj", "mlp.c_proj"]:
            key = f"base_model.model.transformer.h.{i}.{name}"
            for proj, (inf, outf) in [("adapter_down", (d, m)), ("adapter_up", (m, d))]:
                tensors[f"{key}.{proj}.W_left"] = 0.4 * torch.randn(n, inf // n, rank, generator=g)
                tensors[f"{key}.{proj}.W_right"] = 0.4 * torch.randn(n, rank, outf // n, generator=g)
                tensors[f"{key}.{proj}.b"] = 0.1 * torch.randn(outf, generator=g)

    def phm(z, key, proj):
        w = torch.bmm(tensors[f"{key}.{proj}.W_left"], tensors[f"{key}.{proj}.W_right"])
        h = kronecker_product(tensors["base_model.phm_rule"], w).sum(0)
        return torch.matmul(z, h) + tensors[f"{key}.{proj}.b"]

    def layer(path, conv):
        key = "base_model.model." + path
        if key + ".adapter_down.b" not in tensors:
            return None

        def forward(x, conv=conv, key=key):
            h = x @ conv.weight + conv.bias
            return h + phm(F.gelu(phm(h, key, "adapter_down")), key, "adapter_up")
        return forward
    make_other("gpt2-tiny-compacter", config, tensors, layer, 53)


if __name__ == "__main__":
    make_compacter(32)

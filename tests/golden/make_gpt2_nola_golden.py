"""Writes gpt2-tiny-nola/: a NOLA adapter (engine peft_type "NOLA", not in PEFT) for gpt2-tiny in PEFT's file layout,
the adapter math written in plain PyTorch after UCDvision/NOLA gpt/src/model_nola.py (LoRA with use_nola), with the
golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after
make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_nola_golden.py

Per adapted layer (c_attn [in 32, out 96] and mlp.c_proj [in 128, out 32]): trained coefficients nola_alpha [k] and
nola_beta [k]; A = A0 + sum_i alpha_i P_i [r, in], B = sum_j beta_j Q_j [out, r], y = x W + b + (lora_alpha / r) (x A^T) B^T.
The frozen A0 [r, in] ~ U(+-1/sqrt(in)), P [k, r, in] and Q [k, out, r] ~ U(+-1/sqrt(k)) are NOT in the file: the
engine regenerates them from nola_seed. This script restates that regeneration independently in numpy (Philox4x32-10,
checked here against the Random123 known-answer vector; the seed of each tensor is FNV-1a of "<path>\\0<name>" from
14695981039346656037 XOR nola_seed, then h XOR (h >> 29); element i of a draw uses counter i; uniform = 53 bits
((w0 << 21) XOR w1) / 2^53, value low + (high - low) u in float64 rounded to float32), and writes the tensors it used to
bases.safetensors (keys <path>.A0, .P, .Q) so the C# test can compare the engine's regenerated tensors with them.
"""
import math, os
import numpy as np
import torch
from make_gpt2_golden import write_safetensors
from make_gpt2_lora_golden import HERE, common, make_other

MASK32, MASK64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85


def philox_block(seed, counters):
    """The four 32-bit words of Philox4x32-10 for key (seed low, seed high) and counters (low, high, 0, 0)."""
    counters = np.asarray(counters, dtype=np.uint64)
    c0, c1 = counters & np.uint64(MASK32), counters >> np.uint64(32)
    c2, c3 = np.zeros_like(c0), np.zeros_like(c0)
    k0, k1 = seed & MASK32, (seed >> 32) & MASK32
    for _ in range(10):
        p0, p1 = np.uint64(M0) * c0, np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & np.uint64(MASK32),
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & np.uint64(MASK32))
        k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
    return c0, c1, c2, c3


def check_philox():
    """Random123's known-answer test for Philox4x32-10: counter 0, key 0."""
    words = [int(w[0]) for w in philox_block(0, [0])]
    assert words == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], [hex(w) for w in words]


def fnv_seed(seed, text):
    h = 14695981039346656037 ^ seed
    for ch in text:
        h = ((h ^ ord(ch)) * 1099511628211) & MASK64
    return h ^ (h >> 29)


def engine_rand(shape, low, high, seed):
    """The engine's Tensor.Rand(shape, low, high, Float32, new Generator(seed))."""
    n = int(np.prod(shape))
    a, b, _, _ = philox_block(seed, np.arange(n, dtype=np.uint64))
    bits = ((a << np.uint64(21)) ^ b) & np.uint64((1 << 53) - 1)
    u = bits.astype(np.float64) * (1.0 / (1 << 53))
    f = (low + (high - low) * u).astype(np.float32)
    top = np.float32(high)
    f = np.where(f >= top, np.nextafter(top, np.float32(-np.inf)), f)
    return torch.from_numpy(f.reshape(shape).copy())


def nola_bases(nola_seed, path, r, k, inf, outf):
    a0 = 1 / math.sqrt(inf)
    basis = 1 / math.sqrt(k)
    return (engine_rand([r, inf], -a0, a0, fnv_seed(nola_seed, path + "\0A0")),
            engine_rand([k, r, inf], -basis, basis, fnv_seed(nola_seed, path + "\0P")),
            engine_rand([k, outf, r], -basis, basis, fnv_seed(nola_seed, path + "\0Q")))


def make_nola(d):
    check_philox()
    config = common("NOLA", target_modules=["c_attn", "mlp.c_proj"], r=4, lora_alpha=8, nola_num_basis=6,
                    lora_dropout=0.0, nola_seed=1234)
    del config["fan_in_fan_out"]
    r, k, s = config["r"], config["nola_num_basis"], config["lora_alpha"] / config["r"]
    g = torch.Generator().manual_seed(47)
    tensors, bases = {}, {}
    for i in range(2):
        for name, (inf, outf) in [("attn.c_attn", (d, 3 * d)), ("mlp.c_proj", (4 * d, d))]:
            path = f"transformer.h.{i}.{name}"
            key = "base_model.model." + path
            a0, p, q = nola_bases(config["nola_seed"], path, r, k, inf, outf)
            bases.update({path + ".A0": a0, path + ".P": p, path + ".Q": q})
            # Non-zero (NOLA starts both at 0): a trained adapter.
            tensors[key + ".nola_alpha"] = 0.8 * torch.randn(k, generator=g)
            tensors[key + ".nola_beta"] = 0.8 * torch.randn(k, generator=g)

    def layer(path, conv):
        key = "base_model.model." + path
        if key + ".nola_alpha" not in tensors:
            return None

        def forward(x, conv=conv, key=key, path=path):
            a0, p, q = bases[path + ".A0"], bases[path + ".P"], bases[path + ".Q"]
            a = a0 + torch.einsum("i,irn->rn", tensors[key + ".nola_alpha"], p)
            b = torch.einsum("j,jor->or", tensors[key + ".nola_beta"], q)
            return x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
        return forward
    make_other("gpt2-tiny-nola", config, tensors, layer, 47)
    write_safetensors(os.path.join(HERE, "gpt2-tiny-nola", "bases.safetensors"), bases)


if __name__ == "__main__":
    make_nola(32)

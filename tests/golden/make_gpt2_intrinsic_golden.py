"""Writes gpt2-tiny-intrinsic{,-dense,-sparse}/: intrinsic-dimension adapters (Li et al. 2018, arXiv 1804.08838; the
engine's peft_type INTRINSIC_DIM, not in PEFT) for gpt2-tiny, with the same golden.safetensors contents as
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_intrinsic_golden.py

The file holds base_model.intrinsic_theta_d [d] only; P [D, d] is drawn again from projection_seed. The oracle is
independent of the C# code: this script re-implements the engine's documented random stream (Philox4x32-10 of Salmon
et al. 2011 keyed by the seed, element i of a draw taking counter offset + i; uniform = 53 bits of words (a, b);
normal = Box-Muller on the block's two uniforms, u1 taken as 1 - u) in numpy, draws P the way docs/adapters.md
describes, and writes the projection and the model in plain torch (its own Walsh–Hadamard butterflies).
Targets: attn.c_attn (32 -> 96) and mlp.c_proj (128 -> 32) of both blocks, in module order; ΔW [out, in] of each is
its consecutive slice of P theta, row-major, so GPT-2's Conv1D (weight [in, out]) adds ΔW^T.
- fastfood: L = 2^ceil(log2 D); B = ±1 (u < 0.5 gives -1, counters 0..L-1), Π = the ascending order of L uniforms
  (counters L..2L-1), G = L normals (2L..3L-1); z = H(G * (H(B * pad(theta)))[Π]); P theta = z[:D] / (sqrt(L sum G^2) sqrt(D/L)).
- dense: D x d normals row-major (counter i d + j), each column scaled to unit length.
- sparse: per layer of D_l entries, k = round(sqrt(D_l)) entries per direction: d k uniforms for the rows
  (row = floor(u D_l)), then d k uniforms for the signs; entry j k + m belongs to direction j; repeats add; each
  column then scaled to unit length.
"""
import math
import numpy as np
import torch
from make_gpt2_golden import CONFIG
from make_gpt2_lora_golden import make_other

D_MODEL = CONFIG["n_embd"]
LAYERS = [(f"transformer.h.{i}.{name}", inf, outf) for i in range(CONFIG["n_layer"])
          for name, inf, outf in [("attn.c_attn", D_MODEL, 3 * D_MODEL), ("mlp.c_proj", 4 * D_MODEL, D_MODEL)]]
TARGETS = ["c_attn", "mlp.c_proj"]
KEY = "base_model.intrinsic_theta_d"
M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK32 = np.uint64(0xFFFFFFFF)


def philox(seed, counters):
    """Philox4x32-10 blocks (four uint32 words as uint64 arrays) of the given counters under a 64-bit seed."""
    counters = np.asarray(counters, dtype=np.uint64)
    c0, c1 = counters & MASK32, counters >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for _ in range(10):
        p0 = np.uint64(M0) * c0
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & MASK32, (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & MASK32)
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return c0, c1, c2, c3


def bits53(a, b):
    return (((a << np.uint64(21)) ^ b) & np.uint64((1 << 53) - 1)).astype(np.float64) * (1.0 / (1 << 53))


class Stream:
    """The engine's Generator: a seed and the next counter."""
    def __init__(self, seed):
        self.seed, self.offset = seed, 0

    def take(self, n):
        counters = np.arange(self.offset, self.offset + n, dtype=np.uint64)
        self.offset += n
        return philox(self.seed, counters)

    def uniform(self, n):
        a, b, _, _ = self.take(n)
        return bits53(a, b)

    def normal(self, n):
        a, b, c, d = self.take(n)
        u1, u2 = 1.0 - bits53(a, b), bits53(c, d)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)


def fwht(x):
    """Unnormalised Walsh–Hadamard transform of a 1-D tensor of power-of-two length, by butterflies (differentiable)."""
    n, h = x.shape[0], 1
    while h < n:
        y = x.view(n // (2 * h), 2, h)
        x = torch.stack([y[:, 0] + y[:, 1], y[:, 0] - y[:, 1]], dim=1).reshape(n)
        h *= 2
    return x


def sizes():
    return [inf * outf for _, inf, outf in LAYERS]


def fastfood(seed, d):
    total = sum(sizes())
    length = 1 << math.ceil(math.log2(total))
    s = Stream(seed)
    b = torch.tensor(np.where(s.uniform(length) < 0.5, -1.0, 1.0), dtype=torch.float32)
    perm = torch.tensor(np.argsort(s.uniform(length), kind="stable"))
    g = s.normal(length)
    divisor = math.sqrt(length * float(np.sum(g * g))) * math.sqrt(total / length)
    g = torch.tensor(g, dtype=torch.float32)

    def project(theta):
        padded = torch.cat([theta, torch.zeros(length - d)])
        return fwht(fwht(padded * b)[perm] * g)[:total] / divisor
    return project


def dense(seed, d):
    total = sum(sizes())
    p = Stream(seed).normal(total * d).reshape(total, d)
    p = torch.tensor(p / np.linalg.norm(p, axis=0, keepdims=True), dtype=torch.float32)
    return lambda theta: p @ theta


def sparse(seed, d):
    total = sum(sizes())
    p = np.zeros((total, d))
    s, offset = Stream(seed), 0
    for size in sizes():
        k = max(1, round(math.sqrt(size)))
        rows = offset + np.minimum(np.floor(s.uniform(d * k) * size).astype(np.int64), size - 1)
        signs = np.where(s.uniform(d * k) < 0.5, -1.0, 1.0)
        np.add.at(p, (rows, np.arange(d * k) // k), signs)
        offset += size
    p = torch.tensor(p / np.linalg.norm(p, axis=0, keepdims=True), dtype=torch.float32)
    return lambda theta: p @ theta


def make(folder, projection, build, seed, d=16, projection_seed=7):
    config = {"peft_type": "INTRINSIC_DIM", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
              "inference_mode": True, "target_modules": TARGETS, "exclude_modules": None, "layers_to_transform": None,
              "layers_pattern": None, "modules_to_save": None, "intrinsic_dim": d, "projection": projection,
              "projection_seed": projection_seed}
    g = torch.Generator().manual_seed(seed)
    # Trained-looking coordinates: large enough that ΔW (entries ~ |theta| / sqrt(D / d)) moves the logits.
    tensors = {KEY: 3.0 * torch.randn(d, generator=g)}
    project = build(projection_seed, d)
    offsets, at = {}, 0
    for path, inf, outf in LAYERS:
        offsets[path] = (at, outf, inf)
        at += inf * outf

    def layer(path, conv):
        if path not in offsets:
            return None
        start, outf, inf = offsets[path]

        def forward(x):
            delta = project(tensors[KEY])[start: start + outf * inf].view(outf, inf)
            return x @ (conv.weight + delta.T) + conv.bias
        return forward
    make_other(folder, config, tensors, layer, seed)


def main():
    make("gpt2-tiny-intrinsic", "fastfood", fastfood, 81)
    make("gpt2-tiny-intrinsic-dense", "dense", dense, 82)
    make("gpt2-tiny-intrinsic-sparse", "sparse", sparse, 83)


if __name__ == "__main__":
    main()

"""Golden values for PCB-merging and WIDEN (issue 20), computed with PyTorch ops in float64.

Written from the formulas of the spec (adapters-other.md 18, 19) and the tensor operations the reference code uses
(duguodong7/pcb-merging pcb-merging.py: sort-based rank clipping, min-max normalisation; yule-BUAA/MergeLLM
widen_merging: torch.norm over dim 0, cosine_similarity, stable argsort + scatter ranks, softmax over models).
The inputs are closed-form (sines) so the C# test rebuilds them without a data file; see MergePapersGoldenTests.cs.
Run: /usr/bin/python3 tests/golden/make_merge_papers_golden.py
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "merge-papers")


def base_value(k):
    return math.sin(0.37 * k + 0.1)


def delta_value(i, k, scale):
    return scale * math.sin(k * (0.013 + 0.0071 * i) + 0.7 * i) * (1 + (k * 7 + i) % 13)


def pcb_golden():
    d, n, r, eps = 20000, 3, 0.01, 1e-4
    lambdas = [1.0, 0.8, 1.2]
    tau = torch.tensor([[delta_value(i, k, 0.001) for k in range(d)] for i in range(n)])

    def rank_clip(x, low_pos, high_pos):
        s, _ = torch.sort(x, dim=1)
        return torch.clamp(x, s[:, int(low_pos)].unsqueeze(1), s[:, int(high_pos)].unsqueeze(1))

    def minmax(x):
        lo = x.min(dim=1, keepdim=True).values
        hi = x.max(dim=1, keepdim=True).values
        return (x - lo) / (hi - lo)

    mag = rank_clip(tau.abs(), d * eps, d * (1 - eps) - 1)
    clipped = torch.sign(tau) * mag
    beta = torch.exp(n * minmax(mag) ** 2) * torch.tanh(tau * tau.sum(dim=0))
    scale = minmax(rank_clip(beta, d * (1 - r), d - 1))
    lam = torch.tensor(lambdas).unsqueeze(1)
    merged = (lam * clipped * scale).sum(dim=0) / torch.clamp(scale.sum(dim=0), min=1e-12)
    nz = torch.nonzero(merged).squeeze(1)
    return {"d": d, "ratio": r, "lambdas": lambdas, "shapes": {"a": [100, 120], "b": [8000]},
            "indices": nz.tolist(), "values": merged[nz].tolist()}


def widen_golden():
    n = 3
    shapes = {"w": [6, 5], "embed_tokens.weight": [7, 4], "bias": [5]}
    base, models = {}, [{} for _ in range(n)]
    offset = 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        ks = range(offset, offset + size)
        base[name] = torch.tensor([base_value(k) for k in ks]).reshape(shape)
        for i in range(n):
            models[i][name] = base[name] + torch.tensor([delta_value(i, k, 0.05) for k in ks]).reshape(shape)
        offset += size

    def scores(sig, mean=None):  # sig: [models, entries]
        out = torch.softmax(sig, dim=0)
        # Ranks 0, 1/c, ..., (c-1)/c have the exact mean (c-1)/(2c); torch's float mean of them can fall below the
        # middle rank (c = 7), which would calibrate it by rounding. The engine uses the exact mean; so does this file.
        limit = sig.mean(dim=1, keepdim=True) if mean is None else mean
        out[sig > limit * 1.0] = 1.0
        return out

    def ranks(x):
        order = torch.argsort(x, dim=1, stable=True)
        pos = (torch.arange(x.shape[1]) / x.shape[1]).repeat(x.shape[0], 1)
        return torch.zeros_like(x).scatter(1, order, pos)

    merged = {}
    for name in shapes:
        p = base[name]
        fs = [m[name] for m in models]
        if p.dim() == 2:
            transposed = name == "embed_tokens.weight"
            if transposed:
                p = p.t()
                fs = [f.t() for f in fs]
            mp = p.norm(p=2, dim=0)
            dm = torch.stack([(f.norm(p=2, dim=0) - mp).abs() for f in fs])
            dd = torch.stack([1 - torch.cosine_similarity(f / f.norm(p=2, dim=0), p / mp, dim=0) for f in fs])
            c = dm.shape[1]
            w = 0.5 * (scores(ranks(dm), (c - 1) / (2 * c)) + scores(ranks(dd), (c - 1) / (2 * c)))
            out = p + (torch.stack([f - p for f in fs]) * w.unsqueeze(1)).sum(dim=0)
            merged[name] = (out.t() if transposed else out).reshape(-1).tolist()
        else:
            delta = torch.stack([f - p for f in fs])
            merged[name] = (p + (delta * scores(delta.abs())).sum(dim=0)).tolist()
    return {"models": n, "shapes": shapes, "merged": merged}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, make in [("pcb.json", pcb_golden), ("widen.json", widen_golden)]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(make(), f)
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")

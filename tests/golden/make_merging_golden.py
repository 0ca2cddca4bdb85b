"""Writes merging/task_vector_merges.json: task arithmetic, magnitude pruning and TIES (sign by total and by frequency)
of three seeded [4, 5] task tensors, the math of PEFT's src/peft/utils/merge_utils.py (at 5d602fd) written out here in
plain PyTorch (no peft package): prune each tensor to its int(density * numel) largest magnitudes (torch.topk; the
random values have no equal magnitudes, so topk's order among ties does not matter), elect per entry the sign of the
sum (total) or of the sign count (frequency), + where it is >= 0, and take the mean of the weighted entries whose sign
is the elected one (0 where none). DARE is left out: it draws torch's generator, not the engine's.
Run with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_merging_golden.py
"""
import json
import os

import torch

DENSITY = 0.4
WEIGHTS = [0.7, 1.3, -0.4]


def keep_largest(t, density):
    k = int(density * t.numel())
    flat = t.reshape(-1)
    kept = torch.zeros_like(flat)
    idx = torch.topk(flat.abs(), k).indices
    kept[idx] = flat[idx]
    return kept.reshape(t.shape)


def weighted(stack, weights):
    return stack * torch.tensor(weights, dtype=stack.dtype).view(-1, *([1] * (stack.dim() - 1)))


def elected_mask(stack, method):
    signs = stack.sign()
    strength = stack.sum(0) if method == "total" else signs.sum(0)
    elected = torch.where(strength >= 0, torch.ones_like(strength), -torch.ones_like(strength))
    return signs == elected


def ties(tensors, weights, density, method):
    stack = torch.stack([keep_largest(t, density) for t in tensors])
    mask = elected_mask(stack, method)
    kept = (weighted(stack, weights) * mask).sum(0)
    return kept / mask.sum(0).clamp(min=1)


def main():
    g = torch.Generator().manual_seed(20)
    tensors = [torch.randn(4, 5, generator=g, dtype=torch.float64) for _ in range(3)]
    stack = torch.stack(tensors)
    out = {
        "density": DENSITY,
        "weights": WEIGHTS,
        "shape": [4, 5],
        "task_tensors": [t.reshape(-1).tolist() for t in tensors],
        "task_arithmetic": weighted(stack, WEIGHTS).sum(0).reshape(-1).tolist(),
        "magnitude_prune": weighted(torch.stack([keep_largest(t, DENSITY) for t in tensors]), WEIGHTS).sum(0).reshape(-1).tolist(),
        "ties_total": ties(tensors, WEIGHTS, DENSITY, "total").reshape(-1).tolist(),
        "ties_frequency": ties(tensors, WEIGHTS, DENSITY, "frequency").reshape(-1).tolist(),
    }
    os.makedirs("merging", exist_ok=True)
    with open("merging/task_vector_merges.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

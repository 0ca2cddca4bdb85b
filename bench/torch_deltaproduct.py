#!/usr/bin/env python3
"""PyTorch side of `Engine.Bench deltaproduct`: the engine's DeltaProduct layer of the same size (q/k/v/beta
projections, short causal depthwise convolutions of kernel 4 on q, k, v, SiLU, n_h = 2 Householder steps per token,
beta in [0, 2], L2-normalised keys and scaled queries, per-head RMSNorm, SiLU output gate, output projection) in its
naive recurrent form and its chunked WY/UT form, forward + backward. Prints one JSON line with milliseconds.

Engine.Bench runs this once per thread count, 1 and all cores (--threads, set before torch starts its pool),
and credits PyTorch with the better figure, as it does the engine."""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F


def delta_rule_recurrent(q, k, v, beta):
    # q [B,H,S,d], k [B,H,S,d], v [B,H,S,dv], beta [B,H,S]; S steps; state [B,H,d,dv]; o_t = S_t^T q_t
    b, h, steps, d = k.shape
    state = k.new_zeros(b, h, d, v.shape[-1])
    outs = []
    for t in range(steps):
        kt, vt, bt = k[:, :, t], v[:, :, t], beta[:, :, t, None]
        old = torch.einsum("bhd,bhde->bhe", kt, state)
        state = state + torch.einsum("bhd,bhe->bhde", kt, bt * (vt - old))
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], state))
    return torch.stack(outs, 2)


def delta_rule_chunked(q, k, v, beta, chunk):
    b, h, steps, d = k.shape
    dv = v.shape[-1]
    pad = (-steps) % chunk
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
        beta = F.pad(beta, (0, pad))
    n = q.shape[2] // chunk
    q, k, v = (x.reshape(b, h, n, chunk, -1) for x in (q, k, v))
    beta = beta.reshape(b, h, n, chunk)
    eye = torch.eye(chunk, dtype=q.dtype)
    a = torch.tril(beta[..., None] * (k @ k.transpose(-1, -2)), -1)
    t = torch.linalg.solve_triangular(eye + a, torch.diag_embed(beta), upper=False)  # (I + A)^-1 diag(beta)
    w, u = t @ k, t @ v
    state = q.new_zeros(b, h, d, dv)
    outs = []
    causal = torch.tril(torch.ones(chunk, chunk, dtype=torch.bool))
    for i in range(n):
        qi, ki, wi, ui = q[:, :, i], k[:, :, i], w[:, :, i], u[:, :, i]
        new_v = ui - wi @ state
        outs.append(qi @ state + (qi @ ki.transpose(-1, -2)).masked_fill(~causal, 0) @ new_v)
        state = state + ki.transpose(-1, -2) @ new_v
    return torch.cat(outs, 2)[:, :, :steps]


class DeltaProduct(torch.nn.Module):
    def __init__(self, c, heads, householder):
        super().__init__()
        self.h, self.n, self.d = heads, householder, c // heads
        self.q = torch.nn.Linear(c, c, bias=False)
        self.k = torch.nn.Linear(c, c * householder, bias=False)
        self.v = torch.nn.Linear(c, c * householder, bias=False)
        self.b = torch.nn.Linear(c, heads * householder, bias=False)
        # Short causal depthwise convolutions (kernel 4) on q, k, v, and the output gate, as the engine's layer.
        self.q_conv = torch.nn.Conv1d(c, c, 4, groups=c, padding=3, bias=False)
        self.k_conv = torch.nn.Conv1d(c * householder, c * householder, 4, groups=c * householder, padding=3, bias=False)
        self.v_conv = torch.nn.Conv1d(c * householder, c * householder, 4, groups=c * householder, padding=3, bias=False)
        self.g = torch.nn.Linear(c, c, bias=False)
        self.norm = torch.nn.Parameter(torch.ones(self.d))
        self.o = torch.nn.Linear(c, c, bias=False)

    @staticmethod
    def causal_conv(conv, z):
        # [B, T, C] -> [B, T, C]: padding 3 on both sides, keep the first T outputs (causal).
        return conv(z.transpose(1, 2))[..., : z.shape[1]].transpose(1, 2)

    def forward(self, x, mode, chunk=64):
        bsz, t, c = x.shape
        h, n, d = self.h, self.n, self.d
        q = F.normalize(F.silu(self.causal_conv(self.q_conv, self.q(x))).view(bsz, t, h, d), dim=-1) / d ** 0.5
        k = F.normalize(F.silu(self.causal_conv(self.k_conv, self.k(x))).view(bsz, t, n, h, d), dim=-1)
        v = F.silu(self.causal_conv(self.v_conv, self.v(x))).view(bsz, t, n, h, d)
        beta = 2 * torch.sigmoid(self.b(x)).view(bsz, t, n, h)
        # Interleave the n_h steps of each token: step t*n + j; queries read after a token's last step.
        k = k.permute(0, 3, 1, 2, 4).reshape(bsz, h, t * n, d)
        v = v.permute(0, 3, 1, 2, 4).reshape(bsz, h, t * n, d)
        beta = beta.permute(0, 3, 1, 2).reshape(bsz, h, t * n)
        qs = x.new_zeros(bsz, h, t, n, d)
        qs[:, :, :, n - 1] = q.transpose(1, 2)
        qs = qs.reshape(bsz, h, t * n, d)
        o = delta_rule_recurrent(qs, k, v, beta) if mode == "recurrent" else delta_rule_chunked(qs, k, v, beta, chunk)
        o = o.reshape(bsz, h, t, n, d)[:, :, :, n - 1].transpose(1, 2)
        o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * self.norm
        o = o * F.silu(self.g(x).view(bsz, t, h, d))
        return self.o(o.reshape(bsz, t, c))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--length", type=int, default=1024)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    layer = DeltaProduct(128, 4, 2)
    x = torch.randn(2, a.length, 128)
    result = {}
    for mode in ("chunked", "recurrent"):
        def step():
            layer.zero_grad()
            layer(x, mode).pow(2).mean().backward()
        step()
        reps = 3
        start = time.perf_counter()
        for _ in range(reps):
            step()
        result[mode + "_ms"] = (time.perf_counter() - start) / reps * 1e3
    print(json.dumps(result))


if __name__ == "__main__":
    main()

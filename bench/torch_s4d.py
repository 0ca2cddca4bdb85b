#!/usr/bin/env python3
"""PyTorch side of `Engine.Bench s4d`: the same S4D layer as the engine's (ZOH, Vandermonde kernel, FFT causal
convolution padded to 2L, D skip) and the direct causal convolution (a depthwise conv1d with the full kernel),
timed the same way (warm-up, then the median of repetitions). Prints one JSON line.

Engine.Bench runs this once per thread count, 1 and all cores (--threads, set before torch starts its pool),
and credits PyTorch with the better figure, as it does the engine."""
import argparse
import json
import os
import math
import time

import torch
import torch.nn.functional as F


def median_seconds(run, reps, min_seconds):
    start = time.perf_counter()
    while time.perf_counter() - start < 0.25:
        run()
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, math.ceil(min_seconds / once))
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        samples.append((time.perf_counter() - start) / calls)
    return sorted(samples)[reps // 2]


class S4D(torch.nn.Module):
    def __init__(self, h, n):
        super().__init__()
        self.log_dt = torch.nn.Parameter(torch.rand(h) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
        self.log_A_real = torch.nn.Parameter(torch.log(0.5 * torch.ones(h, n // 2)))
        self.A_imag = torch.nn.Parameter(math.pi * torch.arange(n // 2).float().repeat(h, 1))
        self.C = torch.nn.Parameter(torch.randn(h, n // 2, 2) * math.sqrt(0.5))
        self.D = torch.nn.Parameter(torch.randn(h))

    def kernel(self, length):
        dt = self.log_dt.exp().unsqueeze(-1)
        a = torch.complex(-self.log_A_real.exp(), self.A_imag)
        dta = a * dt
        c = torch.view_as_complex(self.C) * (dta.exp() - 1) / a
        powers = (dta.unsqueeze(-1) * torch.arange(length)).exp()
        return 2 * torch.einsum("hn,hnl->hl", c, powers).real

    def forward(self, u):  # u [B, L, H]
        length = u.shape[1]
        x = u.transpose(1, 2)
        return (fft_conv(x, self.kernel(length)) + x * self.D.unsqueeze(-1)).transpose(1, 2)


def fft_conv(x, k):
    length = x.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(x, n=2 * length) * torch.fft.rfft(k, n=2 * length), n=2 * length)[..., :length]


def direct_conv(x, k):
    # conv1d is a cross-correlation: flip the kernel, pad L-1 on the left for causality, one group per channel.
    length = x.shape[-1]
    return F.conv1d(F.pad(x, (length - 1, 0)), k.flip(-1).unsqueeze(1), groups=k.shape[0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--lengths", default="1024,4096")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--state", type=int, default=64)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-seconds", type=float, default=0.3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    results = []
    for length in map(int, a.lengths.split(",")):
        layer = S4D(a.channels, a.state)
        u = torch.randn(a.batch, length, a.channels)
        x = u.transpose(1, 2).contiguous()
        with torch.no_grad():
            k = layer.kernel(length)
            assert torch.allclose(direct_conv(x, k), fft_conv(x, k), atol=1e-3, rtol=1e-3)

            direct = median_seconds(lambda: direct_conv(x, k), a.reps, a.min_seconds)
            fft = median_seconds(lambda: fft_conv(x, k), a.reps, a.min_seconds)
            forward = median_seconds(lambda: layer(u), a.reps, a.min_seconds)

        def step():
            layer.zero_grad()
            layer(u).square().mean().backward()

        backward = median_seconds(step, a.reps, a.min_seconds)
        results.append({"length": length, "direct_s": direct, "fft_s": fft, "forward_s": forward, "backward_s": backward})
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "results": results}))


if __name__ == "__main__":
    main()

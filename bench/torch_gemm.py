#!/usr/bin/env python3
"""PyTorch side of `Engine.Bench gemm`: times torch.mm on the same row-major shapes as the engine.

Prints one JSON line: {"torch": version, "threads": t, "blas": library, "results": [{"m","n","k","gflops"}]}.
Same protocol as the C# side: one warm-up call, then the median of --reps repetitions,
each repeating the call until it lasts at least --min-seconds.

Engine.Bench runs this once per thread count, 1 and all cores (--threads, set before torch starts its pool),
and credits PyTorch with the better figure, as it does the engine.
"""
import argparse
import json
import statistics
import time

import torch


def median_seconds(fn, reps, min_seconds):
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, min(1_000_000, int(min_seconds / once + 0.999)))
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def blas_library():
    """The BLAS shared object torch actually loaded (Debian's torch picks it up through libblas.so.3)."""
    try:
        with open("/proc/self/maps") as maps:
            names = {line.split()[-1] for line in maps if "blas" in line.lower()}
        return ", ".join(sorted(names)) or "unknown"
    except OSError:
        return "unknown"


def openblas_core():
    """OpenBLAS's kernel family (e.g. Haswell, Cooperlake), which OPENBLAS_CORETYPE can force."""
    try:
        import ctypes
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        for path in paths:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    return "n/a"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--shapes", required=True, help="m,n,k;m,n,k;...")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    for item in args.shapes.split(";"):
        m, n, k = (int(v) for v in item.split(","))
        a = torch.rand(m, k) * 2 - 1
        b = torch.rand(k, n) * 2 - 1
        c = torch.empty(m, n)
        seconds = median_seconds(lambda: torch.mm(a, b, out=c), args.reps, args.min_seconds)
        results.append({"m": m, "n": n, "k": k, "gflops": 2.0 * m * n * k / seconds / 1e9})
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "blas": blas_library(), "core": openblas_core(), "results": results}))


if __name__ == "__main__":
    main()

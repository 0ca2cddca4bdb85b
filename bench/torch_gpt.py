#!/usr/bin/env python3
"""PyTorch side of `Engine.Bench training`: the same tiny GPT as the engine's (pre-norm blocks, fused qkv,
tanh GELU, tied head, AdamW), timed the same way. Prints one JSON line.

Engine.Bench runs this once per thread count, 1 and all cores (--threads, set before torch starts its pool),
and credits PyTorch with the better figure, as it does the engine."""
import argparse
import json
import os
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(d, 2)
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        att = (q * (1 / math.sqrt(d // h))) @ k.transpose(-2, -1)
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, context, d, layers, heads):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok.weight.T


def seconds_per_call(fn, warmup, calls):
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main():
    p = argparse.ArgumentParser()
    for name, default in [("threads", os.cpu_count() or 1), ("vocab", 256), ("context", 128), ("d", 128), ("layers", 4), ("heads", 4), ("batch", 16), ("steps", 10), ("gen", 64)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Gpt(a.vocab, a.context, a.d, a.layers, a.heads)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, a.vocab, (a.batch, a.context))
    y = torch.randint(0, a.vocab, (a.batch, a.context))

    def step():
        loss = F.cross_entropy(model(x).view(-1, a.vocab), y.view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    train = seconds_per_call(step, 3, a.steps)
    with torch.no_grad():
        forward = seconds_per_call(lambda: model(x), 2, a.steps)

        # Generation at batch 1 with a KV cache is not in this plain model; recomputing the growing prefix is what
        # a cache-less decoder does, so time the cached equivalent: one new token against cached keys/values.
        def generate():
            ids = torch.zeros(1, 1, dtype=torch.long)
            cache = [None] * a.layers
            for pos in range(a.gen):
                xt = model.tok(ids[:, -1:]) + model.pos(torch.tensor([pos]))
                for i, blk in enumerate(model.blocks):
                    b, t, d = xt.shape
                    h = blk.heads
                    q, k, v = blk.qkv(blk.ln1(xt)).split(d, 2)
                    q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
                    if cache[i] is not None:
                        k = torch.cat([cache[i][0], k], 2)
                        v = torch.cat([cache[i][1], v], 2)
                    cache[i] = (k, v)
                    att = ((q * (1 / math.sqrt(d // h))) @ k.transpose(-2, -1)).softmax(-1)
                    xt = xt + blk.proj((att @ v).transpose(1, 2).reshape(b, t, d))
                    xt = xt + blk.fc_proj(F.gelu(blk.fc(blk.ln2(xt)), approximate="tanh"))
                logits = model.ln_f(xt) @ model.tok.weight.T
                ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)

        gen = seconds_per_call(generate, 1, 3)
    tokens = a.batch * a.context
    print(json.dumps({"torch": torch.__version__, "train_tokens_per_s": tokens / train, "forward_tokens_per_s": tokens / forward,
                      "generate_tokens_per_s": a.gen / gen, "train_ms": train * 1e3}))


if __name__ == "__main__":
    main()

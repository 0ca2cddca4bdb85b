"""Writes gpt2-tiny/: a tiny random GPT-2 in Hugging Face's layout and what PyTorch computes with it.
Run with Debian's python3-torch (only torch and the standard library; no transformers, no safetensors package):
    cd tests/golden && /usr/bin/python3 make_gpt2_golden.py

The model below copies the module structure and parameter names of transformers' GPT2LMHeadModel
(modeling_gpt2.py): Conv1D layers storing weights as [in, out], gelu_new, LayerNorm eps 1e-5, causal attention
scaled by 1/sqrt(head_dim), lm_head tied to wte. Files written (float32 unless said):
  config.json        the Hugging Face config fields the loader reads
  model.safetensors  parameters as on the Hub: no "transformer." prefix, no lm_head.weight (tied),
                     and the attn.bias / attn.masked_bias buffers that old GPT-2 checkpoints carry
  golden.safetensors input_ids, targets (int64 [2,16]), logits [2,16,64], loss [] (mean cross-entropy),
                     grad.<key> for every parameter (wte's includes the tied head's contribution),
                     losses [5] (loss before each of five AdamW steps on the same batch), step5.<key> after them
"""
import json, math, os, struct
import torch
import torch.nn as nn

CONFIG = {
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "vocab_size": 64,
    "n_positions": 32,
    "n_ctx": 32,
    "n_embd": 32,
    "n_layer": 2,
    "n_head": 4,
    "n_inner": None,
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-5,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
    "tie_word_embeddings": True,
}
BATCH, TIME, STEPS = 2, 16, 5
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D: a linear layer whose weight is stored [in, out]."""
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    # transformers.activations.NewGELUActivation (Hendrycks and Gimpel 2016, tanh approximation)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, n_embd, n_head, n_positions):
        super().__init__()
        self.n_head, self.head_dim = n_head, n_embd // n_head
        mask = torch.tril(torch.ones((n_positions, n_positions), dtype=torch.bool)).view(1, 1, n_positions, n_positions)
        self.register_buffer("bias", mask)
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.c_attn = Conv1D(3 * n_embd, n_embd)
        self.c_proj = Conv1D(n_embd, n_embd)

    def split_heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        causal = self.bias[:, :, :t, :t]
        w = torch.where(causal, w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        w = w.softmax(dim=-1)
        y = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous().view(b, t, c)
        return self.c_proj(y)


class GPT2MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = Conv1D(4 * n_embd, n_embd)
        self.c_proj = Conv1D(n_embd, 4 * n_embd)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])
        self.attn = GPT2Attention(cfg["n_embd"], cfg["n_head"], cfg["n_positions"])
        self.ln_2 = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])
        self.mlp = GPT2MLP(cfg["n_embd"])

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.h = nn.ModuleList([GPT2Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.size(1)).unsqueeze(0))
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = GPT2Model(cfg)
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as tie_word_embeddings

    def forward(self, ids):
        return self.lm_head(self.transformer(ids))


def init_nontrivial(model):
    """Large enough, asymmetric values that a wrong transpose, a dropped bias or a misplaced LayerNorm shows."""
    with torch.no_grad():
        for name, p in model.transformer.named_parameters():
            if ".ln_" in name or name.startswith("ln_f"):
                p.copy_(1 + 0.1 * torch.randn_like(p) if name.endswith("weight") else 0.05 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))


def hub_parameters(model):
    """Parameters by their Hub names (GPT2Model's, no prefix), each tensor once (lm_head is wte)."""
    return dict(model.transformer.named_parameters())


def write_safetensors(path, tensors):
    """The safetensors format by hand: u64 little-endian header length, JSON header, row-major little-endian data."""
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
              torch.uint8: "U8", torch.bool: "BOOL"}
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes() if t.dtype != torch.bool else bytes(t.to(torch.uint8).flatten().tolist())
        assert struct.pack("=i", 1) == struct.pack("<i", 1), "tobytes() is native order; this writer assumes little-endian"
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    torch.manual_seed(20240601)
    torch.set_default_dtype(torch.float32)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt2-tiny")
    os.makedirs(out, exist_ok=True)

    model = GPT2LMHeadModel(CONFIG)
    init_nontrivial(model)
    params = hub_parameters(model)

    checkpoint = {name: p for name, p in params.items()}
    for i, block in enumerate(model.transformer.h):
        checkpoint[f"h.{i}.attn.bias"] = block.attn.bias
        checkpoint[f"h.{i}.attn.masked_bias"] = block.attn.masked_bias
    write_safetensors(os.path.join(out, "model.safetensors"), checkpoint)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)

    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    targets = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    vocab = CONFIG["vocab_size"]

    logits = model(ids)
    loss = nn.functional.cross_entropy(logits.view(-1, vocab), targets.view(-1))
    loss.backward()
    golden = {"input_ids": ids, "targets": targets, "logits": logits, "loss": loss}
    golden.update({f"grad.{name}": p.grad.clone() for name, p in params.items()})

    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        step_loss = nn.functional.cross_entropy(model(ids).view(-1, vocab), targets.view(-1))
        losses.append(step_loss.item())
        step_loss.backward()
        opt.step()
    golden["losses"] = torch.tensor(losses, dtype=torch.float32)
    golden.update({f"step5.{name}": p.detach().clone() for name, p in params.items()})
    write_safetensors(os.path.join(out, "golden.safetensors"), golden)
    print(f"loss {loss.item():.6f}, losses {[round(l, 6) for l in losses]}, wrote {out}")


if __name__ == "__main__":
    main()

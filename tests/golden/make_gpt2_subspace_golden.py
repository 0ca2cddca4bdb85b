"""Writes gpt2-tiny-{deft,deft-qr,peanut,psoft,psoft-ab}/: subspace-family adapters (DeFT, PEANuT, PSOFT) for gpt2-tiny
in Hugging Face PEFT's file layout, the adapter math written in plain PyTorch (no peft package) after PEFT's
deft/, peanut/ and psoft/ layer.py (5d602fd), with the golden.safetensors contents of make_gpt2_lora_golden.py
(logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_subspace_golden.py

DeFT (PEFT's deft.DeftLinear; nn.Linear and GPT-2's Conv1D, fan_in_fan_out = true): keys deft_P [out, r],
  deft_R [r, in] (no ".weight"); (Q, right) = (P, relu(P)) for "relu", (qr(P).Q, same) for "qr" with LAPACK's signs;
  y = base(x) - ((base(x) - b) right) Q^T + (x (s R)^T) Q^T, s = alpha / r (1 without alpha).
PEANuT (peanut.Linear; nn.Linear only, so lm_head): keys peanut_A.weight [r, out], peanut_B.weight [out, r],
  peanut_encoders.i.weight, peanut_decoders.i.weight [r, r]; H = act(W^T A^T), encoders H = act(H E^T) (inputs kept),
  decoders H = act(H D^T) + kept[depth-1-i]; dW = s (H B^T)^T.
PSOFT (psoft.Linear; nn.Linear only, so lm_head): keys psoft_R.weight (the r(r-1)/2 upper-triangle entries of a skew Q
  when psoft_orth), psoft_R.vector_b, psoft_R.vector_a [r]; A, B from torch.linalg.svd of W (not saved by PEFT);
  R = (I + Q)(I - Q)^-1 (or PEFT's Cayley-Neumann loop), R' = diag(b) R diag(a); y = base(x) + s ((x A^T) R'^T - x A^T) B^T.
  PEFT keeps LAPACK's singular-vector signs, which a loader cannot reproduce, and a trained R depends on them:
  gpt2-tiny-psoft is the file PEFT writes when LAPACK returns the signs the engine's rebuild uses (the largest |entry|
  of each column of U_r positive; this script flips torch's SVD to that rule); gpt2-tiny-psoft-ab also holds A and B
  under the engine's extra keys psoft_svd_A, psoft_svd_B, with torch's own signs, which the engine loads as they are.
"""
import os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model
import math

D, VOCAB = CONFIG["n_embd"], CONFIG["vocab_size"]
# transformers' ACT2FN entries the fixtures use (gelu_new: the tanh approximation).
ACT = {"relu": torch.relu,
       "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))}


def config_of(peft_type, **fields):
    """The PeftConfig fields save_pretrained writes, then the method's own."""
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "target_modules": ["lm_head"], "exclude_modules": None,
              "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None}
    config.update(fields)
    return config


def deft_config(**fields):
    config = config_of("DEFT", r=8, decomposition_method="relu", init_scale=1.0, alpha=None, para=False, fan_in_fan_out=True,
                       deft_dropout=0.0, init_weights=True, bias="none")
    config.update(fields)
    return config


def make_deft(folder, config, modules, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for i, block in enumerate(model.transformer.h):
        for name in modules:
            conv = block.get_submodule(name)
            path = f"transformer.h.{i}.{name}"
            key = f"base_model.model.{path}"
            in_f, out_f = conv.weight.shape  # Conv1D stores [in, out]
            r = min(config["r"], out_f)
            s = config["alpha"] / r if config["alpha"] else 1.0
            # Non-zero everywhere and larger than PEFT's N(0, 0.02^2) init: a trained adapter.
            tensors[key + ".deft_P"] = 0.5 * torch.randn(out_f, r, generator=g)
            tensors[key + ".deft_R"] = 0.5 * torch.randn(r, in_f, generator=g)

            def forward(x, conv=conv, key=key, s=s):
                p, rr = tensors[key + ".deft_P"], tensors[key + ".deft_R"]
                if config["decomposition_method"] == "qr":
                    q, _ = torch.linalg.qr(p)
                    right = q
                else:
                    q, right = p, torch.relu(p)
                result = x @ conv.weight + conv.bias
                product = result - conv.bias
                result = result - (product @ right) @ q.T
                return result + torch.nn.functional.linear(x, rr * s) @ q.T
            conv.forward = forward
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def make_peanut(folder, config, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    key = "base_model.model.lm_head"
    r, depth = config["r"], config["depth"]
    tensors = {key + ".peanut_A.weight": 0.5 * torch.randn(r, VOCAB, generator=g)}
    for i in range(depth):
        tensors[key + f".peanut_encoders.{i}.weight"] = 0.5 * torch.randn(r, r, generator=g)
        tensors[key + f".peanut_decoders.{i}.weight"] = 0.5 * torch.randn(r, r, generator=g)
    tensors[key + ".peanut_B.weight"] = 0.5 * torch.randn(VOCAB, r, generator=g)
    trainable = list(tensors)
    tensors[key + ".base_layer.weight"] = head.weight.detach().clone()
    act = ACT[config["act_fn"]]

    def delta():
        h = act(head.weight.T @ tensors[key + ".peanut_A.weight"].T)
        kept = []
        for i in range(depth):
            kept.append(h)
            h = act(h @ tensors[key + f".peanut_encoders.{i}.weight"].T)
        for i in range(depth):
            h = act(h @ tensors[key + f".peanut_decoders.{i}.weight"].T) + kept[depth - 1 - i]
        return (h @ tensors[key + ".peanut_B.weight"].T * config["scaling"]).T
    head.forward = lambda x: x @ head.weight.T + x @ delta().T
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def psoft_config(**fields):
    config = config_of("PSOFT", r=32, psoft_alpha=32, psoft_dropout=0.0, fan_in_fan_out=False, ab_svd_init="psoft_init",
                       psoft_svd="full", psoft_svd_lowrank_niter=10, random_seed=0, psoft_orth=True, psoft_mag_b=True,
                       psoft_mag_a=True, use_cayley_neumann=False, num_cayley_neumann_terms=5, cayley_neumann_eps=None,
                       init_weights=True)
    config.update(fields)
    return config


def canonical_signs(u, vh):
    """The engine's rule: the entry of largest magnitude of each column of U is positive (the first one on ties)."""
    sign = torch.sign(u.gather(0, u.abs().argmax(0, keepdim=True)))
    sign[sign == 0] = 1
    return u * sign, vh * sign.T


def psoft_ab(config, w, canonical):
    """PEFT's _build_psoft_ab_cache_buffers (psoft_svd "full"): A [r, in], B [out, r] from W [out, in]."""
    r, s = config["r"], config["psoft_alpha"] / config["r"]
    u, sv, vh = torch.linalg.svd(w.detach(), full_matrices=False)
    u, sv, vh = u[:, :r], sv[:r], vh[:r]
    if canonical:
        u, vh = canonical_signs(u, vh)
    if config["ab_svd_init"] == "psoft_init":
        return vh.contiguous(), (u @ torch.diag(sv / s)).contiguous()
    root = torch.sqrt(sv / s)
    return (torch.diag(root) @ vh).contiguous(), (u @ torch.diag(root)).contiguous()


def psoft_matrix(config, t, key):
    """PEFT's OrthLayer.get_matrix, then the magnitudes."""
    r = config["r"]
    w = t[key + ".psoft_R.weight"]
    if not config["psoft_orth"]:
        rot = w
    else:
        rows, cols = torch.triu_indices(r, r, 1)
        q = torch.zeros(r, r).index_put((rows, cols), w)
        q = q - q.T
        eye = torch.eye(r)
        if not config["use_cayley_neumann"]:
            rot = torch.linalg.solve(eye - q, eye + q, left=False)
        else:
            eps = config["cayley_neumann_eps"]
            if eps is not None:
                norm = torch.linalg.norm(q, ord="fro")
                if torch.isfinite(norm) and norm > eps:
                    q = q * (eps / (norm + 1e-12))
            terms = config["num_cayley_neumann_terms"]
            rot = eye.clone()
            if terms > 1:
                rot = rot + 2 * q
                if terms > 2:
                    power = q @ q
                    rot = rot + 2 * power
                    for _ in range(3, terms - 1):
                        power = power @ q
                        rot = rot + 2 * power
                    rot = rot + power @ q
    if key + ".psoft_R.vector_b" in t:
        rot = t[key + ".psoft_R.vector_b"][:, None] * rot
    if key + ".psoft_R.vector_a" in t:
        rot = rot * t[key + ".psoft_R.vector_a"][None, :]
    return rot


def make_psoft(folder, config, seed, save_ab):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    key = "base_model.model.lm_head"
    r, s = config["r"], config["psoft_alpha"] / config["r"]
    n = r * (r - 1) // 2 if config["psoft_orth"] else r * r
    tensors = {key + ".psoft_R.weight": 0.3 * torch.randn(n, generator=g)}
    if config["psoft_mag_b"]:
        tensors[key + ".psoft_R.vector_b"] = 1 + 0.3 * torch.randn(r, generator=g)
    if config["psoft_mag_a"]:
        tensors[key + ".psoft_R.vector_a"] = 1 + 0.3 * torch.randn(r, generator=g)
    trainable = list(tensors)
    a, b = psoft_ab(config, head.weight, canonical=not save_ab)
    if save_ab:
        tensors[key + ".psoft_svd_A"], tensors[key + ".psoft_svd_B"] = a, b
    tensors[key + ".base_layer.weight"] = head.weight.detach().clone()

    def forward(x):
        xa = x @ a.T
        return x @ head.weight.T + ((xa @ psoft_matrix(config, tensors, key).T) - xa) @ b.T * s
    head.forward = forward
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def main():
    make_deft("gpt2-tiny-deft", deft_config(r=4, alpha=8, target_modules=["c_attn", "c_proj"]),
              ["attn.c_attn", "attn.c_proj", "mlp.c_proj"], 41)
    make_deft("gpt2-tiny-deft-qr", deft_config(r=3, decomposition_method="qr", target_modules=["c_fc"]), ["mlp.c_fc"], 42)
    make_peanut("gpt2-tiny-peanut", config_of("PEANUT", r=4, depth=2, act_fn="gelu_new", scaling=0.7, init_weights=True), 43)
    make_psoft("gpt2-tiny-psoft", psoft_config(r=6, psoft_alpha=12), 44, save_ab=False)
    make_psoft("gpt2-tiny-psoft-ab", psoft_config(r=5, psoft_alpha=5, ab_svd_init="pissa_init", use_cayley_neumann=True,
                                                  cayley_neumann_eps=0.9, psoft_mag_b=False), 45, save_ab=True)


if __name__ == "__main__":
    main()

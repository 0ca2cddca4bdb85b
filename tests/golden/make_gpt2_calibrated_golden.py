"""Writes gpt2-tiny-corda/ and gpt2-tiny-loraga/: LoRA adapters with PEFT's data-driven initialisations CorDA
(init_lora_weights "corda", lora/corda.py preprocess_corda + layer.py corda_init) and LoRA-GA ("lora_ga",
lora/loraga.py preprocess_loraga + layer.py lora_ga_init) at PEFT 5d602fd for gpt2-tiny in Hugging Face PEFT's file
layout, the algorithms written in plain PyTorch (no peft package), with the golden.safetensors of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step) and init.safetensors: the calibration batches
and the initial factors A0, B0 of several configurations, for the engine's own initialisation to be compared with.
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_calibrated_golden.py

Calibration data: CALIB batches of one sequence of TIME tokens (calibration_ids [CALIB, 1, TIME]); PEFT's CorDA hook
squeezes the batch dimension, so one sequence per call is PEFT's own setting.
CorDA (Yang et al. 2024): per target, C = mean over calls of X^T X with X [TIME, in] the layer input divided by
  |max X|; damped C + lambda I, lambda = mean(diag C) * 0.01 doubled until ||M M^-1 - I||_F < 0.05; W C_d = U S V^T
  (W [out, in], the transpose of Conv1D's weight); V_hat = (V^T C_d^-1)^T; IPM keeps the r largest, KPM the r
  smallest; A0 = sqrt(S_r / s) V_hat_r^T, B0 = U_r sqrt(S_r / s); the base keeps W - s B0 A0.
LoRA-GA (Wang et al. 2024): per target, G = the gradient of the next-token loss with respect to W, averaged over the
  calibration batches (PEFT divides the accumulated gradient by the number of backward calls); G = U S V^T; direction
  ArB2r: A0 = V^T[:r], B0 = U[:, r:2r] diag(S[r:2r]) (ArBr: A0 the odd rows, B0 the even columns; A2rBr the reverse of
  ArB2r); scale stable: B0 * d^(1/4) / sqrt(gamma) with d = weight.shape[0] as PEFT takes it (for GPT-2's Conv1D, the
  input width), weight_svd: B0 * sigma_1(W) / S_B[0], gd_scale: A0 / s and B0 / s; the base keeps W - s B0 A0.
  Deviations from PEFT, which the engine shares: PEFT's torch.svd_lowrank (4r columns, 4 power iterations, random
  signs from torch's global generator) is replaced by the exact SVD with a fixed sign rule (the entry of largest
  magnitude of each column of U is positive, the first on ties), because s B0 A0 mixes singular pairs and so depends on
  the signs; the "stable" d of a Conv1D layer follows PEFT (weight.shape[0]).
The algorithms run in float64 (PEFT: float32); A0, B0 are then rounded to float32 as PEFT stores them, and the
residual base is W - s B0 A0 in float32. The files' A and B are "trained": A0, B0 plus noise.
"""
import math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, base_config, finish, next_token_loss, read_safetensors, adapt

CALIB = 4
LAYERS = ["attn.c_attn", "attn.c_proj", "mlp.c_proj"]


def fresh_model():
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def targets(model, names):
    out = []
    for i, block in enumerate(model.transformer.h):
        for name in LAYERS:
            if any(name == t or name.endswith("." + t) for t in names):
                out.append((f"transformer.h.{i}.{name}", block.get_submodule(name)))
    return out


def covariances(model, layers, calib):
    """PEFT's calib_cov_distribution: a forward hook per target adds X^T X of its normalised input per call."""
    sums, counts, handles = {}, {}, []
    for path, conv in layers:
        sums[path], counts[path] = 0, 0

        def hook(module, inputs, output, path=path):
            x = inputs[0].detach().squeeze(0).to(torch.float64)
            x = x / torch.max(x).abs()
            sums[path] = sums[path] + x.t() @ x
            counts[path] += 1
        handles.append(conv.register_forward_hook(hook))
    with torch.no_grad():
        for ids in calib:
            model(ids)
    for h in handles:
        h.remove()
    return {p: sums[p] / counts[p] for p in sums}


def corda_factors(w, cov, r, s, method):
    """PEFT's collect_eigens_for_layer, crop_corda_eigens and corda_init for W [out, in]."""
    n = cov.shape[0]
    damp = 0.01
    while True:
        fixed = cov + torch.eye(n, dtype=torch.float64) * torch.mean(torch.diag(cov)) * damp
        inv = torch.linalg.inv(fixed)
        if torch.dist(fixed @ inv, torch.eye(n, dtype=torch.float64)).item() < 0.05:
            break
        damp *= 2
    u, sv, vh = torch.linalg.svd(w @ fixed, full_matrices=False)
    v = (vh @ inv).t()
    sl = slice(0, r) if method == "ipm" else slice(sv.shape[0] - r, sv.shape[0])
    u, sv, v = u[:, sl], sv[sl] / s, v[:, sl]
    return v.t() * sv.sqrt().view(-1, 1), u * sv.sqrt()


def gradients(model, layers, calib):
    """PEFT's estimate_gradients: only the target weights require grad; the accumulated gradient over the train
    step's backward passes divided by their number."""
    for _, conv in layers:
        conv.weight.requires_grad_(True)
        conv.weight.grad = None
    for ids in calib:
        next_token_loss(model(ids), ids).backward()
    out = {path: (conv.weight.grad.detach().to(torch.float64) / len(calib)).t() for path, conv in layers}  # [out, in]
    for _, conv in layers:
        conv.weight.requires_grad_(False)
        conv.weight.grad = None
    return out


def signed_svd(g, k):
    u, sv, vh = torch.linalg.svd(g, full_matrices=False)
    u, sv, vh = u[:, :k], sv[:k], vh[:k]
    for j in range(k):
        col = u[:, j]
        best = int(torch.argmax(col.abs()))  # the first index of the largest magnitude
        if col[best] < 0:
            u[:, j], vh[j] = -u[:, j], -vh[j]
    return u, sv, vh


def loraga_factors(g, w, r, s, direction, scale, gamma, stable_out):
    """PEFT's lora_ga_init for G, W [out, in] (exact SVD with the sign rule above)."""
    u, sv, vh = signed_svd(g, 2 * r)
    if direction == "ArBr":
        ia, ib = list(range(1, 2 * r, 2)), list(range(0, 2 * r, 2))
    elif direction == "A2rBr":
        ia, ib = list(range(r, 2 * r)), list(range(r))
    else:  # ArB2r
        ia, ib = list(range(r)), list(range(r, 2 * r))
    a, s_b = vh[ia], sv[ib]
    b = u[:, ib] @ torch.diag(s_b)
    if scale == "stable":
        b = b * (stable_out ** 0.25) / (gamma ** 0.5)
    elif scale == "weight_svd":
        top = torch.linalg.svd(w, full_matrices=False)[1][0]
        if s_b[0] > 0:
            b = b * top / s_b[0]
    elif scale == "gd_scale":
        a, b = a / s, b / s
    return a, b


def calibration_ids():
    g = torch.Generator().manual_seed(77)
    return torch.randint(0, CONFIG["vocab_size"], (CALIB, 1, TIME), generator=g)


def init_cases(calib):
    """A0, B0 of each case on every target of the "c_attn", "c_proj" selection (r 4, lora_alpha 8: s = 2)."""
    r, s = 4, 2.0
    model = fresh_model()
    layers = targets(model, ["c_attn", "c_proj"])
    out = {}
    covs = covariances(model, layers, calib)
    grads = gradients(model, layers, calib)
    for path, conv in layers:
        w = conv.weight.detach().t().to(torch.float64)
        for method in ["ipm", "kpm"]:
            a, b = corda_factors(w, covs[path], r, s, method)
            out[f"corda_{method}.{path}.A"], out[f"corda_{method}.{path}.B"] = a, b
        for name, direction, scale in [("loraga", "ArB2r", "stable"), ("loraga_arbr_weightsvd", "ArBr", "weight_svd"),
                                       ("loraga_a2rbr_gdscale", "A2rBr", "gd_scale")]:
            a, b = loraga_factors(grads[path], w, r, s, direction, scale, 16, conv.weight.shape[0])
            out[f"{name}.{path}.A"], out[f"{name}.{path}.B"] = a, b
    return out


def make_folder(folder, config, factors_of, seed, calib):
    """The model with the residual bases and the "trained" adapter, written as PEFT would."""
    torch.manual_seed(seed)
    model = fresh_model()
    r, s = config["r"], config["lora_alpha"] / config["r"]
    layers = targets(model, config["target_modules"])
    factors = factors_of(model, layers, r, s)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in layers:
        a0, b0 = (t.to(torch.float32) for t in factors[path])
        with torch.no_grad():
            w = conv.weight.detach().t()
            conv.weight.copy_((w - s * b0 @ a0).t())
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = (a0 + 0.1 * a0.abs().max() * torch.randn(a0.shape, generator=g)).contiguous()
        tensors[key + ".lora_B.weight"] = (b0 + 0.1 * b0.abs().max() * torch.randn(b0.shape, generator=g)).contiguous()
    adapt(model, config, tensors)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def main():
    calib = calibration_ids()
    corda = {"cache_file": None, "covariance_file": None, "corda_method": "kpm", "verbose": False,
             "use_float16_for_covariance": False, "prune_temporary_fields": True}

    def corda_of(model, layers, r, s):
        covs = covariances(model, layers, calib)
        return {p: corda_factors(c.weight.detach().t().to(torch.float64), covs[p], r, s, corda["corda_method"]) for p, c in layers}
    make_folder("gpt2-tiny-corda", base_config(init_lora_weights="corda", corda_config=corda), corda_of, 51, calib)

    ga = {"direction": "ArB2r", "scale": "stable", "stable_gamma": 16}

    def loraga_of(model, layers, r, s):
        grads = gradients(model, layers, calib)
        return {p: loraga_factors(grads[p], c.weight.detach().t().to(torch.float64), r, s, ga["direction"], ga["scale"],
                                  ga["stable_gamma"], c.weight.shape[0]) for p, c in layers}
    make_folder("gpt2-tiny-loraga", base_config(init_lora_weights="lora_ga", lora_ga_config=ga), loraga_of, 52, calib)

    init = init_cases(calib)
    for folder, prefix in [("gpt2-tiny-corda", "corda"), ("gpt2-tiny-loraga", "loraga")]:
        chosen = {k: v.contiguous() for k, v in init.items() if k.startswith(prefix)}
        chosen["calibration_ids"] = calib
        write_safetensors(os.path.join(HERE, folder, "init.safetensors"), chosen)
        print(f"wrote {folder}/init.safetensors: {len(chosen)} tensors")


if __name__ == "__main__":
    main()

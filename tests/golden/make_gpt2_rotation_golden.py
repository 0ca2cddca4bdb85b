"""Writes gpt2-tiny-{hra,hra-gs,road,road-4,osf}/: rotation-family adapters (HRA, RoAd, OSF) for gpt2-tiny in Hugging Face
PEFT's file layout, the adapter math written in plain PyTorch (no peft package) after PEFT's hra/, road/ and osf/
layer.py (5d602fd), with the golden.safetensors contents of make_gpt2_lora_golden.py (logits, loss, grad.<key>,
logits_after_step). All three accept only nn.Linear in PEFT, so each adapts GPT-2's tied lm_head [vocab, n_embd] and the
file also holds base_model.model.lm_head.base_layer.weight (spec section H). Run after make_gpt2_golden.py, with
Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_rotation_golden.py

HRA (hra.HRALinear): key hra_u [in, r]; u_i normalised per column; H = prod_i (I - 2 u_i u_i^T) left to right (apply_GS:
  modified Gram-Schmidt, H = I - 2 U U^T); y = x (W H)^T.
RoAd (road.Linear): keys road_theta, road_alpha (out/2 for road_1, 2 out for road_4); h = x W^T, groups of group_size,
  element i of a group's first half paired with i + g/2; y = h * c + rot(h) * d, rot(h1, h2) = (-h2, h1).
OSF (osf.Linear): keys osf_svd_params.U_low [out, n], S_low [n], V_low [n, in]; the high part (top effective_rank
  triplets of torch.linalg.svd(W)) is not saved; W' = U_h S_h V_h + U_l S_l V_l replaces W; PEFT's tensor hooks project
  the gradients of U_low (off U_h's columns) and V_low (off V_h's rows), which the golden gradients include (the engine
  applies the projection in training mode).
"""
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model

D, VOCAB = CONFIG["n_embd"], CONFIG["vocab_size"]
KEY = "base_model.model.lm_head"


def config_of(peft_type, **fields):
    """PeftConfigMixin's fields as save_pretrained writes them, then the method's own (each method has its own set)."""
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "target_modules": ["lm_head"], "modules_to_save": None}
    config.update(fields)
    return config


def hra_matrix(u, apply_gs):
    """PEFT's HRALinear.get_delta_weight (reverse=False)."""
    n, r = u.shape
    if apply_gs:
        cols = [(u[:, 0] / u[:, 0].norm()).view(-1, 1)]
        for i in range(1, r):
            ui = u[:, i].view(-1, 1)
            for j in range(i):
                ui = ui - (cols[j].t() @ ui) * cols[j]
            cols.append((ui / ui.norm()).view(-1, 1))
        q = torch.cat(cols, dim=1)
        return torch.eye(n) - 2 * q @ q.t()
    u = u / u.norm(dim=0)
    h = torch.eye(n)
    for i in range(r):
        ui = u[:, i].view(-1, 1)
        h = h - 2 * h @ ui @ ui.t()
    return h


def make_hra(folder, r, apply_gs, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    config = config_of("HRA", r=r, apply_GS=apply_gs, exclude_modules=None, init_weights=True, layers_to_transform=None,
                       layers_pattern=None, bias="none")
    # A trained-looking U: PEFT's start (kaiming U(+-1/sqrt(r/2)), columns repeated) moved apart.
    half = (torch.rand(D, r // 2, generator=g) * 2 - 1) / (r / 2) ** 0.5
    u = torch.repeat_interleave(half, 2, dim=1) + 0.3 * torch.randn(D, r, generator=g)
    tensors = {KEY + ".hra_u": u.contiguous()}
    trainable = list(tensors)
    tensors[KEY + ".base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: torch.nn.functional.linear(x, head.weight @ hra_matrix(tensors[KEY + ".hra_u"], apply_gs))
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def road_cols(variant, g, theta, alpha):
    """PEFT's _prepare_cols."""
    if variant == "road_1":
        theta = theta.reshape(-1, g // 2).repeat_interleave(2, dim=0).flatten()
        alpha = alpha.reshape(-1, g // 2).repeat_interleave(2, dim=0).flatten()
        return alpha * theta.cos(), alpha * theta.sin()
    if variant == "road_2":
        return alpha * theta.cos(), alpha * theta.sin()
    theta = theta.reshape(-1, 2, g)
    alpha = alpha.reshape(-1, 2, g)
    return (alpha[:, 0, :] * theta[:, 0, :].cos()).flatten(), (alpha[:, 1, :] * theta[:, 1, :].sin()).flatten()


def apply_road(variant, g, theta, alpha, x):
    """PEFT's _apply_road."""
    first, second = road_cols(variant, g, theta, alpha)
    grouped = x.reshape(-1, 2, g // 2)
    rotated = torch.stack((-grouped[:, 1, :], grouped[:, 0, :]), dim=1).reshape(x.shape)
    return x * first + rotated * second


def make_road(folder, variant, g, seed):
    model = base_model(seed)
    gen = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    config = config_of("ROAD", variant=variant, group_size=g, init_weights=True)
    size = {"road_1": VOCAB // 2, "road_2": VOCAB, "road_4": 2 * VOCAB}[variant]
    tensors = {KEY + ".road_theta": 0.5 * torch.randn(size, generator=gen),
               KEY + ".road_alpha": 1 + 0.3 * torch.randn(size, generator=gen)}
    trainable = list(tensors)
    tensors[KEY + ".base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: apply_road(variant, g, tensors[KEY + ".road_theta"], tensors[KEY + ".road_alpha"], x @ head.weight.T)
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def make_osf(folder, effective_rank, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    config = config_of("OSF", effective_rank=effective_rank, rank_pattern=None, init_weights=None, target_svd_config=None)
    # PEFT's decompose_weight_matrix: torch.linalg.svd in float32, split after k.
    u, s, vt = torch.linalg.svd(head.weight.detach().to(torch.float32), full_matrices=False)
    k = effective_rank
    uh, sh, vh = u[:, :k].contiguous(), s[:k].contiguous(), vt[:k].contiguous()
    n = s.shape[0] - k
    # Trained-looking low factors: the SVD's low part moved.
    tensors = {KEY + ".osf_svd_params.U_low": (u[:, k:] + 0.2 * torch.randn(VOCAB, n, generator=g)).contiguous(),
               KEY + ".osf_svd_params.S_low": (s[k:] + 0.5 * torch.rand(n, generator=g)).contiguous(),
               KEY + ".osf_svd_params.V_low": (vt[k:] + 0.2 * torch.randn(n, D, generator=g)).contiguous()}
    trainable = list(tensors)
    tensors[KEY + ".base_layer.weight"] = head.weight.detach().clone()
    # PEFT's _attach_hooks: the gradients of U_low and V_low projected off the frozen subspaces.
    for name, project in (("U_low", lambda grad: grad - uh @ (uh.T @ grad)), ("V_low", lambda grad: grad - (grad @ vh.T) @ vh)):
        t = tensors[KEY + ".osf_svd_params." + name]
        t.requires_grad_(True)
        t.register_hook(project)

    def forward(x):
        ul, sl, vl = (tensors[KEY + ".osf_svd_params." + m] for m in ("U_low", "S_low", "V_low"))
        w = torch.mm(uh * sh.unsqueeze(0), vh) + torch.mm(ul * sl.unsqueeze(0), vl)
        return torch.nn.functional.linear(x, w)
    head.forward = forward
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def main():
    make_hra("gpt2-tiny-hra", 4, False, 61)
    make_hra("gpt2-tiny-hra-gs", 4, True, 62)
    make_road("gpt2-tiny-road", "road_1", 16, 63)
    make_road("gpt2-tiny-road-4", "road_4", 8, 64)
    make_osf("gpt2-tiny-osf", 24, 65)


if __name__ == "__main__":
    main()

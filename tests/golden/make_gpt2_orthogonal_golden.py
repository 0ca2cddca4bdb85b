"""Writes the orthogonal family's folders: gpt2-tiny-{oft,oft-cayley,oft-share,oft-coft,boft,boft-factor2,boft-factor3}/,
adapters for gpt2-tiny in Hugging Face PEFT's file layout, the adapter math written in plain PyTorch after PEFT's
layers (5d602fd: oft/layer.py, boft/layer.py), with the same golden.safetensors contents as make_gpt2_lora_golden.py
(logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_orthogonal_golden.py

PEFT wraps only nn.Linear (and Conv2d) with OFT and BOFT, not GPT-2's Conv1D: their PEFT files for GPT-2 adapt lm_head
(in = n_embd = 32), and save_pretrained then also writes base_model.model.lm_head.base_layer.weight (= wte).
OFT (OFTRotationModule): oft_R.weight [nb, b(b-1)/2] ([1, ...] with block_share) holds each skew block's strict upper
  triangle (torch.triu_indices(b, b, 1), row-major), Q = U - U^T; R = I + 2Q + 2Q^2 + ... + Q^(t-1) (PEFT's loop,
  t = num_cayley_neumann_terms) or, with use_cayley_neumann = false, R = (I - Q)(I + Q)^-1 (torch.linalg.solve);
  x_i <- x_i R_i, then the base layer. coft: before each forward, under no_grad, each row is replaced by its skew
  block's projection into the Frobenius ball of radius eps / sqrt(rows). The block size is adjusted to the nearest
  divisor of in_features (adjust_oft_parameters): gpt2-tiny-oft-cayley asks r = 3 and gets r = 2, b = 16.
BOFT (boft.Linear): boft_R [m+1, D, b, b], boft_s [out, 1]; O = (I - S)(I + S)^-1 with S = (R - R^T) / 2; M_k = P_k
  blockdiag(O_k) P_k^T with PEFT's butterfly permutation matrices, M = M_m ... M_0; y = s * ((x M) W^T) (lm_head has no
  bias). gpt2-tiny-boft is what PEFT writes on a CPU (no fbd_cuda extension): the config says
  boft_n_butterfly_factor = 2 but PEFT forced one factor, so boft_R is [1, 8, 4, 4]. gpt2-tiny-boft-factor2/-factor3
  are what it writes with the extension (a GPU): [2, 4, 8, 8] (boft_block_num = 4) and [3, 16, 2, 2].
"""
import math
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model


def peft_config(peft_type, fields, **overrides):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True}
    config.update(fields)
    config.update(overrides)
    return config


def oft_config(**o):
    return peft_config("OFT", {"r": 0, "oft_block_size": 32, "module_dropout": 0.0, "target_modules": ["lm_head"],
                               "fan_in_fan_out": False, "bias": "none", "exclude_modules": None, "init_weights": True,
                               "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None, "coft": False,
                               "eps": 6e-5, "block_share": False, "use_cayley_neumann": True, "num_cayley_neumann_terms": 5}, **o)


def boft_config(**o):
    return peft_config("BOFT", {"boft_block_size": 4, "boft_block_num": 0, "boft_n_butterfly_factor": 1,
                                "target_modules": ["lm_head"], "exclude_modules": None, "boft_dropout": 0.0,
                                "fan_in_fan_out": False, "bias": "none", "modules_to_save": None, "init_weights": True,
                                "layers_to_transform": None, "layers_pattern": None}, **o)


# --- OFT ------------------------------------------------------------------------------------------------------------

def nearest_divisor(width, value):
    """PEFT's adjust_oft_parameters, restated."""
    if value >= width:
        return width
    higher = value
    while higher <= width and width % higher != 0:
        higher += 1
    lower = value
    while lower > 1 and width % lower != 0:
        lower -= 1
    return lower if value - lower <= higher - value else higher


def oft_block_size(config, in_f):
    if config["r"] == 0:
        b = config["oft_block_size"]
        return nearest_divisor(in_f, b) if in_f % b != 0 or b > in_f else b
    r = config["r"]
    if in_f % r != 0 or r > in_f:
        r = nearest_divisor(in_f, r)
    return in_f // r


def skew(vec, b):
    rows, cols = torch.triu_indices(b, b, 1)
    m = torch.zeros(vec.shape[0], b, b, dtype=vec.dtype)
    m[:, rows, cols] = vec
    return m - m.transpose(-2, -1)


def neumann(q, terms):
    r = torch.eye(q.shape[-1]).repeat(q.shape[0], 1, 1)
    if terms > 1:
        r = r + 2 * q
        if terms > 2:
            power = q @ q
            r = r + 2 * power
            for _ in range(3, terms - 1):
                power = power @ q
                r = r + 2 * power
            r = r + power @ q
    return r


def cayley(q):
    eye = torch.eye(q.shape[-1]).expand_as(q)
    return torch.linalg.solve(eye + q, eye - q, left=False)


def coft_project(vec, b, eps):
    """PEFT's _project_batch: each skew block scaled onto the Frobenius ball of radius eps / sqrt(rows) when outside."""
    q = skew(vec, b)
    radius = eps / math.sqrt(vec.shape[0])
    norm = torch.norm(q, dim=(1, 2), keepdim=True)
    out = torch.where(norm <= radius, q, radius * (q / norm))
    rows, cols = torch.triu_indices(b, b, 1)
    return out[:, rows, cols]


def make_oft(folder, config, seed, row_norms=None):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    in_f = CONFIG["n_embd"]
    b = oft_block_size(config, in_f)
    nb = in_f // b
    rows = 1 if config["block_share"] else nb
    key = "base_model.model.lm_head.oft_R.weight"
    vec = 0.15 * torch.randn(rows, b * (b - 1) // 2, generator=g)
    if row_norms is not None:
        # COFT: rows at given fractions of the radius (skew-block norms), some close enough to cross it in one AdamW step.
        radius = config["eps"] / math.sqrt(rows)
        vec = vec / (math.sqrt(2) * vec.norm(dim=1, keepdim=True)) * radius * torch.tensor(row_norms).unsqueeze(1)
    tensors = {key: vec, "base_model.model.lm_head.base_layer.weight": head.weight.detach().clone()}

    def forward(x):
        v = tensors[key]
        if config["coft"]:
            with torch.no_grad():
                v.copy_(coft_project(v, b, config["eps"]))
        q = skew(v, b)
        r = neumann(q, config["num_cayley_neumann_terms"]) if config["use_cayley_neumann"] else cayley(q)
        if config["block_share"]:
            r = r.repeat(nb, 1, 1)
        xr = torch.einsum("...rk,rkc->...rc", x.reshape(*x.shape[:-1], nb, b), r).reshape(x.shape)
        return xr @ head.weight.T

    head.forward = forward
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, [key], model, ids)


# --- BOFT -----------------------------------------------------------------------------------------------------------

def butterfly_perm(n, groups, chunk, m):
    """PEFT's block_butterfly_perm, restated: chunks of each group reordered even, then odd."""
    if m == 0:
        return list(range(n))
    size = n // groups
    count = size // chunk
    order = list(range(0, count, 2)) + list(range(1, count, 2))
    within = [c * chunk + j for c in order for j in range(chunk)]
    return [start + w for start in range(0, n, size) for w in within]


def perm_matrix(p):
    m = torch.zeros(len(p), len(p))
    for i, j in enumerate(p):
        m[i, j] = 1
    return m


def make_boft(folder, config, factors, seed):
    """factors: the number of butterfly factors PEFT used (1 on a CPU whatever the config says)."""
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    in_f, out_f = CONFIG["n_embd"], CONFIG["vocab_size"]
    m = factors - 1
    if config["boft_block_size"] == 0:
        d = config["boft_block_num"]
        b = in_f // d
    else:
        b = config["boft_block_size"]
        d = in_f // b
    perms = [perm_matrix(butterfly_perm(in_f, d // 2 ** k, b // 2, m)) for k in range(factors)]
    rk, sk = "base_model.model.lm_head.boft_R", "base_model.model.lm_head.boft_s"
    tensors = {rk: 0.2 * torch.randn(factors, d, b, b, generator=g), sk: 1 + 0.2 * torch.randn(out_f, 1, generator=g),
               "base_model.model.lm_head.base_layer.weight": head.weight.detach().clone()}

    def forward(x):
        r = tensors[rk].reshape(factors * d, b, b)
        s = 0.5 * (r - r.transpose(1, 2))
        o = cayley(s).reshape(factors, d, b, b)
        mat = None
        for k in range(factors):
            mk = perms[k] @ torch.block_diag(*o[k]) @ perms[k].T
            mat = mk if mat is None else mk @ mat
        return ((x @ mat) @ head.weight.T) * tensors[sk].squeeze(-1)

    head.forward = forward
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, [rk, sk], model, ids)


def main():
    # PEFT's default rotation: the 5-term Cayley-Neumann series, blocks of 8.
    make_oft("gpt2-tiny-oft", oft_config(oft_block_size=8), 61)
    # The exact Cayley transform; r = 3 does not divide 32 and is adjusted to 2 (blocks of 16).
    make_oft("gpt2-tiny-oft-cayley", oft_config(r=3, oft_block_size=0, use_cayley_neumann=False), 62)
    # One block shared by the 8 blocks of 4, a 3-term series (I + 2Q + 2Q^2 + Q^3).
    make_oft("gpt2-tiny-oft-share", oft_config(oft_block_size=4, block_share=True, num_cayley_neumann_terms=3), 63)
    # COFT with radius eps / sqrt(4) = 0.5: rows at 50 %, 97 %, 99.5 % and 90 % of it.
    make_oft("gpt2-tiny-oft-coft", oft_config(oft_block_size=8, coft=True, eps=1.0), 64, row_norms=[0.5, 0.97, 0.995, 0.9])
    make_boft("gpt2-tiny-boft", boft_config(boft_n_butterfly_factor=2), 1, 65)
    make_boft("gpt2-tiny-boft-factor2", boft_config(boft_block_size=0, boft_block_num=4, boft_n_butterfly_factor=2), 2, 66)
    make_boft("gpt2-tiny-boft-factor3", boft_config(boft_block_size=2, boft_n_butterfly_factor=3), 3, 67)


if __name__ == "__main__":
    main()

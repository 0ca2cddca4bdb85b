"""Writes gpt2-tiny-{vblora,vblora-topk,tinylora,pvera,unilora,unilora-noindices}/: adapters of the shared-bank
family for gpt2-tiny in Hugging Face PEFT's file layout (PEFT 5d602fd), the adapter math written in plain PyTorch (no
peft package), with the same golden.safetensors contents as make_gpt2_lora_golden.py (logits, loss, grad.<key>,
logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_banks_golden.py

All four methods wrap GPT-2's Conv1D (weight [in, out]; PEFT records fan_in_fan_out = true and works with W^T).
Targets: attn.c_attn (32 -> 96) and mlp.c_proj (128 -> 32) of both blocks, in module order.
VB-LoRA (vblora/layer.py): bank base_model.vblora_vector_bank [N, L]; per layer vblora_logits_A [r, in/L, N],
  vblora_logits_B [out/L, r, N]; each logit row's top-k softmax weights mix the picked bank rows; A = [r, in],
  B = the [out/L, r, L] vectors transposed to [out/L, L, r] as [out, r]; y = base(x) + (x A^T) B^T.
  save_only_topk_weights (-topk): <logits key>_topk_indices (uint8 for N < 256) and _topk_weights (the first k-1
  softmax weights); loading rebuilds log(w) at the indices, -inf elsewhere (the last weight is 1 - sum); the
  golden's gradient entries of that folder are those of the bank only (PEFT refuses to train such a file).
TinyLoRA (tinylora/layer.py): frozen tinylora_A = sqrt(S_r) V_r^T [r, in], tinylora_B = U_r sqrt(S_r) [out, r] from the
  SVD of W [out, in], tinylora_P [u, r, r]; trainable base_model.tinylora_v.<group> [u]; weight_tying 0.5 over 4 layers
  gives 2 groups of 2; y = base(x) + ((x A^T) R^T) B^T with R = sum_i v_i P_i.
PVeRA (pvera/layer.py): shared base_model.pvera_A [2r, max in], base_model.pvera_B [max out, r]; per layer
  pvera_lambda_b [out], pvera_lambda_d [2r]; in evaluation y = base(x) + b * ((d * (x A_s^T))[:r] B_s^T) (the mean).
UniLoRA (unilora/layer.py): base_model.unilora_theta_d [D]; with save_indices unilora_indices_A [r, in],
  unilora_indices_B [out, r] (int64), unilora_scales_A/B = 1/sqrt(count(index)); A = theta[idx_A] * scale_A,
  B = theta[idx_B] * scale_B; y = base(x) + (x A^T) B^T. -noindices: save_indices false, so the file holds theta only
  (PEFT redraws the indices with numpy); only its two adapter files are written, for the refusal test.
"""
import json, math, os
import torch
from make_gpt2_golden import CONFIG, write_safetensors
from make_gpt2_lora_golden import HERE, common, make_other

D = CONFIG["n_embd"]
LAYERS = [(f"transformer.h.{i}.{name}", inf, outf) for i in range(CONFIG["n_layer"])
          for name, inf, outf in [("attn.c_attn", D, 3 * D), ("mlp.c_proj", 4 * D, D)]]
TARGETS = ["c_attn", "mlp.c_proj"]


def key(path):
    return f"base_model.model.{path}"


def vblora_config(**fields):
    config = common("VBLORA", target_modules=TARGETS, r=4, num_vectors=8, vector_length=16, topk=2,
                    save_only_topk_weights=False, vblora_dropout=0.0, bias="none", init_vector_bank_bound=0.02,
                    init_logits_std=0.1)
    config.update(fields)
    return config


def admix(logits, bank, k):
    values, idx = logits.topk(k, dim=-1)
    return (torch.softmax(values, dim=-1).unsqueeze(-1) * bank[idx]).sum(-2)


def vblora_layer(tensors, k):
    def layer(path, conv):
        if key(path) + ".vblora_logits_A" not in tensors:
            return None
        la, lb, bank = tensors[key(path) + ".vblora_logits_A"], tensors[key(path) + ".vblora_logits_B"], tensors["base_model.vblora_vector_bank"]
        def forward(x):
            a = admix(la, bank, k).reshape(la.shape[0], -1)
            b = admix(lb, bank, k).transpose(1, 2).reshape(-1, lb.shape[1])
            return x @ conv.weight + conv.bias + (x @ a.T) @ b.T
        return forward
    return layer


def make_vblora():
    config = vblora_config()
    g = torch.Generator().manual_seed(41)
    r, n, l = config["r"], config["num_vectors"], config["vector_length"]
    tensors = {"base_model.vblora_vector_bank": 0.3 * torch.rand(n, l, generator=g) - 0.15}
    for path, inf, outf in LAYERS:
        tensors[key(path) + ".vblora_logits_A"] = torch.randn(r, inf // l, n, generator=g)
        tensors[key(path) + ".vblora_logits_B"] = torch.randn(outf // l, r, n, generator=g)
    make_other("gpt2-tiny-vblora", config, tensors, vblora_layer(tensors, config["topk"]), 41)


def make_vblora_topk():
    """PEFT's save_only_topk_weights file and the model it loads into (logits log w at the indices, -inf elsewhere)."""
    config = vblora_config(topk=3, save_only_topk_weights=True)
    g = torch.Generator().manual_seed(42)
    r, n, l, k = config["r"], config["num_vectors"], config["vector_length"], config["topk"]
    tensors = {"base_model.vblora_vector_bank": 0.3 * torch.rand(n, l, generator=g) - 0.15}
    live = dict(tensors)
    for path, inf, outf in LAYERS:
        for name, shape in [("vblora_logits_A", (r, inf // l, n)), ("vblora_logits_B", (outf // l, r, n))]:
            values, idx = torch.randn(*shape, generator=g).topk(k)
            weights = torch.softmax(values, dim=-1)
            tensors[key(path) + f".{name}_topk_indices"] = idx.to(torch.uint8)
            tensors[key(path) + f".{name}_topk_weights"] = weights[..., :-1].contiguous()
            # PEFT's _remap_adapter_state_dict_for_load:
            w = torch.cat([weights[..., :-1], 1 - weights[..., :-1].sum(-1, keepdim=True)], dim=-1)
            live[key(path) + "." + name] = torch.full(shape, float("-inf")).scatter(-1, idx, torch.log(w))
    # The file holds the top-k form; the forward reads the rebuilt logits (and the same bank tensor).
    make_topk(config, tensors, live, k)


def make_topk(config, tensors, live, k):
    layer = vblora_layer(live, k)
    from make_gpt2_lora_golden import finish, read_safetensors
    from make_gpt2_golden import GPT2LMHeadModel, BATCH, TIME
    torch.manual_seed(42)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("mlp.c_proj", block.mlp.c_proj)]:
            conv.forward = layer(f"transformer.h.{i}.{name}", conv)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish("gpt2-tiny-vblora-topk", config, tensors, ["base_model.vblora_vector_bank"], model, ids)


def make_tinylora():
    config = common("TINYLORA", target_modules=TARGETS, r=2, u=4, weight_tying=0.5, projection_seed=42, save_projection=True,
                    init_v_bound=0.02, tinylora_dropout=0.0, bias="none", init_weights=True)
    g = torch.Generator().manual_seed(43)
    from make_gpt2_lora_golden import read_safetensors
    state = read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors"))
    r, u = config["r"], config["u"]
    tensors = {}
    for index, (path, inf, outf) in enumerate(LAYERS):
        w = state[path.removeprefix("transformer.") + ".weight"].T.float()  # Conv1D [in, out] -> [out, in]
        uu, s, vh = torch.linalg.svd(w, full_matrices=False)
        root = s[:r].sqrt()
        tensors[key(path) + ".tinylora_A"] = (root.unsqueeze(1) * vh[:r]).contiguous()
        tensors[key(path) + ".tinylora_B"] = (uu[:, :r] * root.unsqueeze(0)).contiguous()
        tensors[key(path) + ".tinylora_P"] = torch.randn(u, r, r, generator=torch.Generator().manual_seed(42 + index)) / math.sqrt(r)
    # 4 layers, weight_tying 0.5: round(4 * 0.5) = 2 groups of 2 (layers 0, 1 -> v.0; 2, 3 -> v.1).
    for group in range(2):
        tensors[f"base_model.tinylora_v.{group}"] = torch.randn(u, generator=g)

    def layer(path, conv):
        if key(path) + ".tinylora_A" not in tensors:
            return None
        index = [p for p, _, _ in LAYERS].index(path)
        k = key(path)
        a, b, p, v = tensors[k + ".tinylora_A"], tensors[k + ".tinylora_B"], tensors[k + ".tinylora_P"], tensors[f"base_model.tinylora_v.{index // 2}"]
        return lambda x: x @ conv.weight + conv.bias + ((x @ a.T) @ torch.einsum("i,ijk->jk", v, p).T) @ b.T
    make_other("gpt2-tiny-tinylora", config, tensors, layer, 43, [k for k in tensors if "tinylora_v" in k])


def make_pvera():
    r = 4
    config = common("PVERA", target_modules=TARGETS, r=r, projection_prng_key=0, save_projection=True, pvera_dropout=0.0,
                    d_initial=0.1, bias="none", init_weights=True, sample_at_inference=False, generator_seed=None)
    g = torch.Generator().manual_seed(44)
    max_in, max_out = 4 * D, 3 * D
    tensors = {"base_model.pvera_A": torch.randn(2 * r, max_in, generator=g) / math.sqrt(max_in),
               "base_model.pvera_B": torch.randn(max_out, r, generator=g) / math.sqrt(r)}
    for path, inf, outf in LAYERS:
        tensors[key(path) + ".pvera_lambda_b"] = torch.randn(outf, generator=g)
        tensors[key(path) + ".pvera_lambda_d"] = torch.randn(2 * r, generator=g)

    def layer(path, conv):
        k = key(path)
        if k + ".pvera_lambda_b" not in tensors:
            return None
        lb, ld = tensors[k + ".pvera_lambda_b"], tensors[k + ".pvera_lambda_d"]
        inf, outf = conv.weight.shape
        a, b = tensors["base_model.pvera_A"][:, :inf], tensors["base_model.pvera_B"][:outf, :]
        return lambda x: x @ conv.weight + conv.bias + lb * (((x @ a.T) * ld).chunk(2, dim=-1)[0] @ b.T)
    make_other("gpt2-tiny-pvera", config, tensors, layer, 44, [k for k in tensors if ".pvera_lambda_" in k])


def unilora_config(save_indices):
    return common("UNILORA", target_modules=TARGETS, r=2, proj_seed=42, theta_d_length=64, unilora_dropout=0.0, bias="none",
                  init_theta_d_bound=0.02, init_weights=True, save_indices=save_indices)


def make_unilora():
    config = unilora_config(True)
    g = torch.Generator().manual_seed(45)
    r, d = config["r"], config["theta_d_length"]
    total = sum(r * inf + outf * r for _, inf, outf in LAYERS)
    # PEFT's generate_index (balanced: each index total // d or one more times), shuffled with torch instead of numpy.
    data = torch.cat([torch.arange(d).repeat_interleave(total // d), torch.randperm(d, generator=g)[: total % d]])
    data = data[torch.randperm(total, generator=g)]
    counts = torch.bincount(data, minlength=d)
    inv = torch.where(counts > 0, counts.float().rsqrt(), torch.zeros(d))
    tensors = {"base_model.unilora_theta_d": 0.3 * torch.randn(d, generator=g)}
    at = 0
    for path, inf, outf in LAYERS:
        a = data[at: at + r * inf].view(r, inf); at += r * inf
        b = data[at: at + outf * r].view(outf, r); at += outf * r
        tensors[key(path) + ".unilora_indices_A"], tensors[key(path) + ".unilora_indices_B"] = a.clone(), b.clone()
        tensors[key(path) + ".unilora_scales_A"], tensors[key(path) + ".unilora_scales_B"] = inv[a], inv[b]

    def layer(path, conv):
        k = key(path)
        if k + ".unilora_indices_A" not in tensors:
            return None
        theta = tensors["base_model.unilora_theta_d"]
        def forward(x):
            a = theta[tensors[k + ".unilora_indices_A"]] * tensors[k + ".unilora_scales_A"]
            b = theta[tensors[k + ".unilora_indices_B"]] * tensors[k + ".unilora_scales_B"]
            return x @ conv.weight + conv.bias + (x @ a.T) @ b.T
        return forward
    make_other("gpt2-tiny-unilora", config, tensors, layer, 45, ["base_model.unilora_theta_d"])


def make_unilora_noindices():
    """PEFT's default (save_indices false): the file holds theta only."""
    out = os.path.join(HERE, "gpt2-tiny-unilora-noindices")
    os.makedirs(out, exist_ok=True)
    config = unilora_config(False)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    g = torch.Generator().manual_seed(46)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), {"base_model.unilora_theta_d": 0.3 * torch.randn(config["theta_d_length"], generator=g)})
    print(f"wrote {out}")


def main():
    make_vblora()
    make_vblora_topk()
    make_tinylora()
    make_pvera()
    make_unilora()
    make_unilora_noindices()


if __name__ == "__main__":
    main()

"""Writes gpt2-tiny-arrow/: three task LoRA adapters and two general ones for gpt2-tiny in Hugging Face PEFT's layout,
and what PEFT's Arrow router (create_arrow_model, lora/arrow.py and ArrowLinearVariant in lora/variants.py at 5d602fd)
computes with them, the routing written out in plain PyTorch (no peft package). Run after make_gpt2_golden.py:
    cd tests/golden && /usr/bin/python3 make_gpt2_arrow_golden.py

Folders task0/ task1/ task2/ gen0/ gen1/: LoRA r = 4 on c_attn and c_proj (attn.c_proj and mlp.c_proj), fan_in_fan_out,
  lora_alpha 8 / 4 / 16 (tasks) and 8 (general); task1's B A has top singular values 1 and 0.95 on every layer, so 15
  power-iteration steps leave the prototype far from converged and it depends on the start vector (torch's randn).
arrow_router/: what PeftModel.save_pretrained writes for the router of case gks_top2 (the router is a LoRA adapter of
  rank 4 with default init: A Kaiming-uniform, B zero, unused by the routing; config with arrow_config as asdict).
golden.safetensors: input_ids [2, 16]; for each case C of CASES: logits.C [2, 16, 64] of the routed model,
  proto.C.<path> [3, in] the prototypes; for gks_top2 also loss and grad.<expert>.<key> (the gradient of the
  next-token loss with respect to each expert's A and B after GenKnowSub, as if they trained).

Arrow per adapted layer (x [t, in]): GenKnowSub (use_gks) once: A_e -= mean_g A_g, B_e -= mean_g B_g (g over gks_*);
prototype p_e = 15 steps of v <- M v / (|M v| + 1e-8), M = A_e^T (B_e^T B_e) A_e, from v0 = randn(in) of
torch.Generator().manual_seed(rng_seed), normalised the same way, all in float32; scores |x p_e^T|; top_k per token,
softmax(scores / router_temperature) over those (others -inf); delta = sum_e c_e s_e (x A_e^T) B_e^T, s_e = alpha_e / r.
"""
import copy, json, math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, base_config, next_token_loss, read_safetensors

FOLDER = os.path.join(HERE, "gpt2-tiny-arrow")
LAYERS = ["attn.c_attn", "attn.c_proj", "mlp.c_proj"]
R = 4
TASK_ALPHAS = [8, 4, 16]
GENERAL = 2
SEED = 7
CASES = {
    "top1": dict(top_k=1, router_temperature=1.0, use_gks=False),
    "top2": dict(top_k=2, router_temperature=1.0, use_gks=False),
    "gks_top1": dict(top_k=1, router_temperature=1.0, use_gks=True),
    "gks_top2": dict(top_k=2, router_temperature=2.0, use_gks=True),
}


def load_model():
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for p in model.parameters():
        p.requires_grad_(False)
    layers = []
    for i, block in enumerate(model.transformer.h):
        for name in LAYERS:
            layers.append((f"transformer.h.{i}.{name}", block.get_submodule(name)))
    return model, layers


def spectrum_factors(in_f, out_f, values, g):
    """A [r, in], B [out, r] with B A = U diag(values) V^T for random orthonormal U, V (columns)."""
    v, _ = torch.linalg.qr(torch.randn(in_f, R, generator=g))
    u, _ = torch.linalg.qr(torch.randn(out_f, R, generator=g))
    scale = torch.tensor(values)
    return (scale.sqrt()[:, None] * v.T).contiguous(), (u * scale.sqrt()[None, :]).contiguous()


def write_adapters(layers):
    """The five adapters {name: (config, tensors)}, each written to its folder."""
    g = torch.Generator().manual_seed(2025)
    adapters = {}
    names = [f"task{i}" for i in range(3)] + [f"gen{i}" for i in range(GENERAL)]
    for n, name in enumerate(names):
        alpha = TASK_ALPHAS[n] if name.startswith("task") else 8
        config = base_config(r=R, lora_alpha=alpha, target_modules=["c_attn", "c_proj"])
        tensors = {}
        for path, conv in layers:
            in_f, out_f = conv.weight.shape
            key = f"base_model.model.{path}"
            if name == "task1":
                a, b = spectrum_factors(in_f, out_f, [1.0, 0.95, 0.5, 0.3], g)
            else:
                a, b = 0.3 * torch.randn(R, in_f, generator=g), 0.3 * torch.randn(out_f, R, generator=g)
            tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"] = a, b
        out = os.path.join(FOLDER, name)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "adapter_config.json"), "w") as f:
            json.dump(config, f, indent=2)
        write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)
        adapters[name] = (config, tensors)
    return adapters


def top_right_singular_vector(a, b, seed, iters=15, eps=1e-8):
    """PEFT's ArrowLoraLinearLayer.top_right_singular_vec_from_BA, float32."""
    a32, b32 = a.to(torch.float32), b.to(torch.float32)
    c = b32.T @ b32
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(a32.size(1), dtype=a32.dtype, generator=gen)
    v = v / (v.norm() + eps)
    for _ in range(iters):
        w = a32.T @ (c @ (a32 @ v))
        v = w / (w.norm() + eps)
    return v


def route(x, experts, prototypes, top_k, temperature):
    """PEFT's ArrowLoraLinearLayer.forward without dropout: experts [(A, B, s)], prototypes [E, in]."""
    tok = x.reshape(-1, x.shape[-1])
    t, e = tok.size(0), prototypes.size(0)
    sim = torch.abs(tok @ prototypes.T)
    top_v, idx = torch.topk(sim, top_k, dim=1)
    full = tok.new_full((t, e), float("-inf"))
    full = full.scatter(1, idx, top_v)
    coeff = torch.softmax(full / temperature, dim=1)
    a_stack = torch.stack([a for a, _, _ in experts])
    b_stack = torch.stack([b for _, b, _ in experts])
    scales = torch.tensor([s for _, _, s in experts], dtype=tok.dtype)
    y = torch.einsum("ter,eor->teo", torch.einsum("tf,erf->ter", tok, a_stack), b_stack) * scales.view(1, -1, 1)
    delta = torch.einsum("te,teo->to", coeff, y)
    return delta.view(*x.shape[:-1], -1)


def run_case(case, options, adapters, ids, golden, grads=False):
    model, layers = load_model()
    # Fresh copies: GenKnowSub changes the experts in place.
    tasks = [{k: v.clone() for k, v in adapters[f"task{i}"][1].items()} for i in range(3)]
    general = [adapters[f"gen{i}"][1] for i in range(GENERAL)]
    scales = [TASK_ALPHAS[i] / R for i in range(3)]
    for path, conv in layers:
        key = f"base_model.model.{path}"
        ka, kb = key + ".lora_A.weight", key + ".lora_B.weight"
        if options["use_gks"]:
            mean_a = torch.stack([gen[ka] for gen in general]).mean(0)
            mean_b = torch.stack([gen[kb] for gen in general]).mean(0)
            for t in tasks:
                t[ka] = t[ka] - mean_a
                t[kb] = t[kb] - mean_b
        protos = torch.stack([top_right_singular_vector(t[ka], t[kb], SEED) for t in tasks])
        golden[f"proto.{case}.{path}"] = protos

        def forward(x, conv=conv, ka=ka, kb=kb, protos=protos):
            experts = [(t[ka], t[kb], s) for t, s in zip(tasks, scales)]
            return x @ conv.weight + conv.bias + route(x, experts, protos, options["top_k"], options["router_temperature"])
        conv.forward = forward
    with torch.no_grad():
        golden[f"logits.{case}"] = model(ids)
    if grads:
        params = [(f"task_{i}", k, t) for i, tt in enumerate(tasks) for k, t in tt.items()]
        for _, _, t in params:
            t.requires_grad_(True)
        loss = next_token_loss(model(ids), ids)
        loss.backward()
        golden["loss"] = loss.detach()
        for name, k, t in params:
            golden[f"grad.{name}.{k}"] = t.grad.clone()
    print(f"{case}: logits mean {golden[f'logits.{case}'].mean().item():.6f}")


def write_router(adapters, layers):
    """What save_pretrained writes for the router of case gks_top2 (create_arrow_model's LoraConfig(arrow_config,
    target_modules, r); fan_in_fan_out turned on for Conv1D; task_type None; arrow_config as dataclasses.asdict)."""
    options = CASES["gks_top2"]
    arrow = {"top_k": options["top_k"], "router_temperature": options["router_temperature"], "use_gks": True,
             "task_adapter_names": ["task_0", "task_1", "task_2"], "gks_adapter_names": [f"gks_{i}" for i in range(GENERAL)],
             "rng_seed": SEED}
    config = base_config(r=R, lora_alpha=8, target_modules=["c_attn", "c_proj"], task_type=None, arrow_config=arrow)
    g = torch.Generator().manual_seed(99)
    tensors = {}
    for path, conv in layers:
        in_f, out_f = conv.weight.shape
        key = f"base_model.model.{path}"
        bound = 1 / math.sqrt(in_f)  # nn.Linear's kaiming_uniform_(a = sqrt 5)
        tensors[key + ".lora_A.weight"] = (torch.rand(R, in_f, generator=g) * 2 - 1) * bound
        tensors[key + ".lora_B.weight"] = torch.zeros(out_f, R)
    out = os.path.join(FOLDER, "arrow_router")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)


def main():
    torch.manual_seed(31)
    _, layers = load_model()
    adapters = write_adapters(layers)
    write_router(adapters, layers)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    golden = {"input_ids": ids}
    for case, options in CASES.items():
        run_case(case, options, adapters, ids, golden, grads=case == "gks_top2")
    write_safetensors(os.path.join(FOLDER, "golden.safetensors"), golden)


if __name__ == "__main__":
    main()

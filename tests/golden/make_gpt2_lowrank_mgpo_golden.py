"""Writes gpt2-tiny-loramgpo/: a LoRA-MGPO adapter (engine peft_type "LORAMGPO"; Chang et al. 2025, arXiv:2502.14538;
reference llm172/LoRA-MGPO lora_mgpo/trainer.py) for gpt2-tiny in PEFT's file layout, and what plain PyTorch computes
with it. Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_lowrank_mgpo_golden.py

The folder holds
  adapter_config.json        the engine's LoraMgpoConfig fields (r 2, lora_alpha 4, rho, mgpo_beta, ...)
  adapter_model.safetensors  base_model.model.transformer.h.{i}.{attn.c_attn|attn.c_proj|mlp.c_proj}.lora_A.weight
                             [r, in], .lora_B.weight [out, r] (both non-zero: a trained adapter) and
                             .lora_mgpo_grad_ema [1] (the EMA g of the layer's gradient norm, saved for resuming)
  golden.safetensors         as make_gpt2_lora_golden.finish writes it: the evaluation-time model is plain LoRA, so
                             its logits, loss, gradients and one AdamW step are plain LoRA's with these A and B
  trajectory.safetensors     three LoRA-MGPO training steps from the folder's state with a fresh torch.optim.Adam
                             (lr 1e-2, betas (0.9, 0.999), eps 1e-8, no weight decay), one batch per step:
                             step{k}.input_ids [2, 16], step{k}.loss (the loss of the perturbed model), and after each
                             step after{k}.<key> for every lora_A.weight, lora_B.weight and lora_mgpo_grad_ema; the
                             same under gradient.* for mgpo_direction "gradient" (the engine's reading of GGPO).

One MGPO step per the reference's training_step, for each adapted layer (s = alpha / r):
  D = s (M_B A + B M_A) with M the optimizer's exp_avg of A and B (momentum) or the previous step's gradients of A and B
  (gradient); no perturbation when they do not exist yet (the first step) or when ||D||_F <= eps;
  a = 1 before the first g, else min(1 / (g + eps), 10); eps_W = -rho a D / (||D||_F + eps);
  W0 += eps_W (GPT-2's Conv1D stores W0 transposed: weight += eps_W^T); loss, backward; W0 restored;
  g <- ||s (dB A + B dA)||_F the first time, else beta g + (1 - beta) ||...||_F; then optimizer.step().
The folder's g is a resumed value (non-negative), so the first step's update is an EMA step, not a first value.
"""
import json, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, finish, next_token_loss, read_safetensors

FOLDER = "gpt2-tiny-loramgpo"
R, ALPHA, RHO, BETA, EPS = 2, 4, 0.05, 0.9, 1e-12
ADAM = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
STEPS = 3


def config():
    return {"peft_type": "LORAMGPO", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
            "inference_mode": True, "r": R, "lora_alpha": ALPHA, "lora_dropout": 0.0, "fan_in_fan_out": True,
            "use_rslora": False, "init_lora_weights": True, "rho": RHO, "mgpo_beta": BETA, "mgpo_eps": EPS,
            "mgpo_normalize": True, "mgpo_direction": "momentum", "target_modules": ["c_attn", "c_proj"],
            "exclude_modules": None, "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None}


def layers(model):
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("attn.c_proj", block.attn.c_proj), ("mlp.c_proj", block.mlp.c_proj)]:
            yield f"base_model.model.transformer.h.{i}.{name}", conv


def base_model():
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def adapt(model, tensors):
    s = ALPHA / R
    for key, conv in layers(model):
        a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]

        def forward(x, conv=conv, a=a, b=b):
            return x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
        conv.forward = forward


def train(model, tensors, batches, direction):
    """STEPS MGPO steps on copies of tensors; returns the trajectory keys."""
    s = ALPHA / R
    t = {k: v.detach().clone() for k, v in tensors.items()}
    adapt(model, t)
    params = [v for k, v in t.items() if not k.endswith("grad_ema")]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, **ADAM)
    last_grads = {}
    out = {}
    for step, ids in enumerate(batches):
        saved = {}
        for key, conv in layers(model):
            a, b = t[key + ".lora_A.weight"], t[key + ".lora_B.weight"]
            if direction == "momentum":
                sa, sb = opt.state.get(a, {}), opt.state.get(b, {})
                ma, mb = sa.get("exp_avg"), sb.get("exp_avg")
            else:
                ma, mb = last_grads.get(key, (None, None))
            if ma is None or mb is None:
                continue
            with torch.no_grad():
                d = s * (mb @ a + b @ ma)
                norm = torch.linalg.vector_norm(d)
                if norm <= EPS:
                    continue
                g = t[key + ".lora_mgpo_grad_ema"][0]
                scale = torch.tensor(1.0) if g < 0 else torch.reciprocal(g + EPS)
                scale = scale.clamp(max=10.0)
                eps_w = -RHO * d / (norm + EPS) * scale
                saved[key] = conv.weight.clone()
                conv.weight.add_(eps_w.T)  # Conv1D: weight is [in, out]
        loss = next_token_loss(model(ids), ids)
        loss.backward()
        with torch.no_grad():
            for key, conv in layers(model):
                if key in saved:
                    conv.weight.copy_(saved[key])
            for key, conv in layers(model):
                a, b = t[key + ".lora_A.weight"], t[key + ".lora_B.weight"]
                norm = torch.linalg.vector_norm(s * (b.grad @ a + b @ a.grad))
                g = t[key + ".lora_mgpo_grad_ema"]
                g[0] = norm if g[0] < 0 else BETA * g[0] + (1 - BETA) * norm
                last_grads[key] = (a.grad.clone(), b.grad.clone())
        opt.step()
        opt.zero_grad()
        prefix = "" if direction == "momentum" else "gradient."
        out[f"{prefix}step{step}.loss"] = loss.detach()
        out.update({f"{prefix}after{step}.{k}": v.detach().clone() for k, v in t.items()})
    return out


def main():
    torch.manual_seed(41)
    d = CONFIG["n_embd"]
    shapes = {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d), "mlp.c_proj": (4 * d, d)}
    tensors = {}
    for i in range(CONFIG["n_layer"]):
        for name, (inf, outf) in shapes.items():
            key = f"base_model.model.transformer.h.{i}.{name}"
            tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(R, inf)
            tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(outf, R)
            tensors[key + ".lora_mgpo_grad_ema"] = torch.tensor([0.2 + 0.1 * len(tensors) / 3])
    batches = [torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME)) for _ in range(STEPS)]

    trajectory = {f"step{k}.input_ids": ids for k, ids in enumerate(batches)}
    trajectory.update(train(base_model(), tensors, batches, "momentum"))
    trajectory.update(train(base_model(), tensors, batches, "gradient"))
    # Plain LoRA from the same start, for the record: how far the perturbation moved the trajectory.
    plain = train_plain(tensors, batches)
    last = STEPS - 1
    moved = max((trajectory[f"after{last}.{k}"] - plain[k]).abs().max().item() for k in plain)
    print(f"largest difference of the trained tensors from plain LoRA's after {STEPS} steps: {moved:.3g}")

    model = base_model()
    adapt(model, tensors)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    trainable = [k for k in tensors if not k.endswith("grad_ema")]
    finish(FOLDER, config(), tensors, trainable, model, ids)
    for k in trainable:
        tensors[k].requires_grad_(False)
    write_safetensors(os.path.join(HERE, FOLDER, "trajectory.safetensors"), trajectory)


def train_plain(tensors, batches):
    model = base_model()
    t = {k: v.detach().clone() for k, v in tensors.items() if not k.endswith("grad_ema")}
    adapt_plain = {**t}
    s = ALPHA / R
    for key, conv in layers(model):
        a, b = adapt_plain[key + ".lora_A.weight"], adapt_plain[key + ".lora_B.weight"]

        def forward(x, conv=conv, a=a, b=b):
            return x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
        conv.forward = forward
    for p in t.values():
        p.requires_grad_(True)
    opt = torch.optim.Adam(list(t.values()), **ADAM)
    for ids in batches:
        next_token_loss(model(ids), ids).backward()
        opt.step()
        opt.zero_grad()
    return t


if __name__ == "__main__":
    main()

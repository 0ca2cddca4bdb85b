"""Writes gpt2-tiny-{vl-adapter,vl-adapter-per-task,vl-pet,vl-pet-middlex,vl-pet-middley,vl-pet-small}/: VL-Adapter
(ylsung/VL_adapter VL-T5/src/adapters/adapter_modeling.py::Adapter, adapter_controller.py; spec adapters-other.md
section 10) and VL-PET (HenryHZY/VL-PET src/my_transformers/modeling_bart.py::BartEncoderLayer.forward; section 11) on
both sublayer outputs (attn.c_proj, mlp.c_proj) of gpt2-tiny, in the engine's layout of PEFT's files (engine-only
peft_types VL_ADAPTER and VL_PET), the math in plain PyTorch, with the golden.safetensors contents of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step; task_ids for the per-task file). Run after
make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_vl_golden.py

VL-Adapter: y' = y + Up(swish(Down(y))) on the sublayer output y; keys adapter_down.{weight [m, d], bias [m]},
  adapter_up.{weight [d, m], bias [d]}; per task a leading [T] axis, example b uses task_ids[b].
VL-PET: x1 = the block's residual stream entering the sublayer (GPT-2 is pre-LN: the stream before ln_1 / ln_2),
  x2 = the sublayer output; y1 = x2 + W_up gelu_new(cat_h(W_down^h x2)) (keys adapter_multihead_down.{weight [H, a/H, d],
  bias [H, a/H]}, adapter_multihead_up.{weight [d, a], bias [d]}), then the gate: large y1 * sigmoid(up(gelu_new(down(x1))))
  (adapter_gating_large_x_{down,up}), middleX y1 * sigmoid(w.(x1 + y1) + b) (adapter_gating_middle_xy_add), middleY
  y1 + y1 * g (adapter_gating_middle_ia3_add [d]), small y1 * mean_tokens sigmoid(w.[x1; y1] + b) (adapter_gating_small_xy_cat).
"""
import torch
import torch.nn.functional as F
from make_gpt2_golden import CONFIG, BATCH, TIME, gelu_new
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model
from make_gpt2_multitask_golden import add_task_ids

D, VOCAB, LAYERS = CONFIG["n_embd"], CONFIG["vocab_size"], CONFIG["n_layer"]
SUBLAYERS = ("attn.c_proj", "mlp.c_proj")


def config_of(peft_type, **fields):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
              "inference_mode": True, "target_modules": ["c_proj"], "exclude_modules": None, "layers_to_transform": None,
              "layers_pattern": None, "modules_to_save": None}
    config.update(fields)
    return config


def adapt(model, adapter):
    """Each block publishes its residual stream x1 around each sublayer; adapter(key, x1, y) rewrites each c_proj output."""
    state = {}
    for i, block in enumerate(model.transformer.h):
        def block_forward(x, block=block):
            state["x1"] = x
            x = x + block.attn(block.ln_1(x))
            state["x1"] = x
            return x + block.mlp(block.ln_2(x))
        block.forward = block_forward
        for name, conv in (("attn.c_proj", block.attn.c_proj), ("mlp.c_proj", block.mlp.c_proj)):
            base = conv.forward
            key = f"base_model.model.transformer.h.{i}.{name}"
            conv.forward = lambda h, base=base, key=key: adapter(key, state["x1"], base(h))


def linear(tensors, prefix, x):
    return x @ tensors[prefix + ".weight"].T + tensors[prefix + ".bias"]


def make_vl_adapter(folder, m, tasks, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    t = [] if tasks is None else [tasks]
    config = config_of("VL_ADAPTER", reduction_factor=D // m, non_linearity="swish", use_single_adapter=tasks is None,
                       n_tasks=tasks or 1, init_std=0.02, zero_up=False)
    tensors = {}
    for i in range(LAYERS):
        for name in SUBLAYERS:
            key = f"base_model.model.transformer.h.{i}.{name}"
            # Trained-looking: far from the N(0, 0.02^2) start.
            tensors[key + ".adapter_down.weight"] = 0.3 * torch.randn(*t, m, D, generator=g)
            tensors[key + ".adapter_down.bias"] = 0.1 * torch.randn(*t, m, generator=g)
            tensors[key + ".adapter_up.weight"] = 0.3 * torch.randn(*t, D, m, generator=g)
            tensors[key + ".adapter_up.bias"] = 0.1 * torch.randn(*t, D, generator=g)
    task_ids = torch.tensor([1, 0], dtype=torch.int64)

    def adapter(key, x1, y):
        if tasks is None:
            z = F.silu(linear(tensors, key + ".adapter_down", y))
            return y + linear(tensors, key + ".adapter_up", z)
        # The reference's AdapterController picks adapters[task]: here per example.
        rows = []
        for b in range(y.shape[0]):
            tid = task_ids[b]
            wd, bd = tensors[key + ".adapter_down.weight"][tid], tensors[key + ".adapter_down.bias"][tid]
            wu, bu = tensors[key + ".adapter_up.weight"][tid], tensors[key + ".adapter_up.bias"][tid]
            rows.append(y[b] + F.silu(y[b] @ wd.T + bd) @ wu.T + bu)
        return torch.stack(rows)
    adapt(model, adapter)
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)
    if tasks is not None:
        add_task_ids(folder, task_ids)


def make_vl_pet(folder, gate, a, heads, gd, seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    config = config_of("VL_PET", adapter_down_dim=a, encoder_adapter_multihead_num_head=heads, gate_type=gate,
                       adapter_gating_down_dim=gd, init_std=0.02)
    tensors = {}
    for i in range(LAYERS):
        for name in SUBLAYERS:
            key = f"base_model.model.transformer.h.{i}.{name}"
            tensors[key + ".adapter_multihead_down.weight"] = 0.3 * torch.randn(heads, a // heads, D, generator=g)
            tensors[key + ".adapter_multihead_down.bias"] = 0.1 * torch.randn(heads, a // heads, generator=g)
            tensors[key + ".adapter_multihead_up.weight"] = 0.3 * torch.randn(D, a, generator=g)
            tensors[key + ".adapter_multihead_up.bias"] = 0.1 * torch.randn(D, generator=g)
            if gate == "large":
                tensors[key + ".adapter_gating_large_x_down.weight"] = 0.3 * torch.randn(gd, D, generator=g)
                tensors[key + ".adapter_gating_large_x_down.bias"] = 0.1 * torch.randn(gd, generator=g)
                tensors[key + ".adapter_gating_large_x_up.weight"] = 0.3 * torch.randn(D, gd, generator=g)
                tensors[key + ".adapter_gating_large_x_up.bias"] = 0.1 * torch.randn(D, generator=g)
            elif gate == "middleX":
                tensors[key + ".adapter_gating_middle_xy_add.weight"] = 0.3 * torch.randn(1, D, generator=g)
                tensors[key + ".adapter_gating_middle_xy_add.bias"] = 0.1 * torch.randn(1, generator=g)
            elif gate == "middleY":
                tensors[key + ".adapter_gating_middle_ia3_add"] = 0.3 * torch.randn(D, generator=g)
            else:
                tensors[key + ".adapter_gating_small_xy_cat.weight"] = 0.3 * torch.randn(1, 2 * D, generator=g)
                tensors[key + ".adapter_gating_small_xy_cat.bias"] = 0.1 * torch.randn(1, generator=g)

    def adapter(key, x1, x2):
        # The reference's use_encoder_adapter_down_multihead: H heads d -> a/H, concatenated, gelu_new, one up a -> d.
        w, b = tensors[key + ".adapter_multihead_down.weight"], tensors[key + ".adapter_multihead_down.bias"]
        heads_out = torch.cat([x2 @ w[h].T + b[h] for h in range(heads)], dim=-1)
        y1 = x2 + linear(tensors, key + ".adapter_multihead_up", gelu_new(heads_out))
        if gate == "large":
            return y1 * torch.sigmoid(linear(tensors, key + ".adapter_gating_large_x_up", gelu_new(linear(tensors, key + ".adapter_gating_large_x_down", x1))))
        if gate == "middleX":
            return y1 * torch.sigmoid(linear(tensors, key + ".adapter_gating_middle_xy_add", x1 + y1))
        if gate == "middleY":
            return y1 + y1 * tensors[key + ".adapter_gating_middle_ia3_add"]
        gate_value = torch.sigmoid(linear(tensors, key + ".adapter_gating_small_xy_cat", torch.cat([x1, y1], dim=2)))
        return y1 * torch.mean(gate_value, dim=1).unsqueeze(-1)
    adapt(model, adapter)
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def main():
    make_vl_adapter("gpt2-tiny-vl-adapter", 4, None, 181)
    make_vl_adapter("gpt2-tiny-vl-adapter-per-task", 4, 3, 182)
    make_vl_pet("gpt2-tiny-vl-pet", "large", 8, 4, 6, 183)
    make_vl_pet("gpt2-tiny-vl-pet-middlex", "middleX", 8, 4, 6, 184)
    make_vl_pet("gpt2-tiny-vl-pet-middley", "middleY", 8, 4, 6, 185)
    make_vl_pet("gpt2-tiny-vl-pet-small", "small", 8, 4, 6, 186)


if __name__ == "__main__":
    main()

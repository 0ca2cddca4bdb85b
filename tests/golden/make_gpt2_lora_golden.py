"""Writes gpt2-tiny-{lora,dora,adalora,ia3,vera}/: adapters for gpt2-tiny in Hugging Face PEFT's file layout and the
logits PyTorch computes with them, the adapter math written out in plain PyTorch (no peft package).
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_lora_golden.py

Each folder holds
  adapter_config.json        PEFT's LoraConfig fields (GPT-2's Conv1D layers: fan_in_fan_out = true)
  adapter_model.safetensors  base_model.model.transformer.h.{i}.{attn.c_attn|attn.c_proj|mlp.c_proj}.lora_A.weight [r, in],
                             ...lora_B.weight [out, r], DoRA: ...lora_magnitude_vector [out] (PEFT drops ".weight" there)
  golden.safetensors         input_ids (int64 [2,16]) and logits [2,16,64] of the adapted model
LoRA (Hu et al. 2021): y = x W + b + s (x A^T) B^T, s = alpha / r (rank_pattern/alpha_pattern per module).
DoRA (Liu et al. 2024): y = (m / ||W^T + s B A||_row) (x W + s (x A^T) B^T) + b, as PEFT's DoRA linear layer computes it.
AdaLoRA (Zhang et al. 2023): keys lora_A [r, in], lora_E [r, 1], lora_B [out, r] (no ".weight"), only the kept
  triplets of rank_pattern; y = x W + b + x (A * E)^T B^T * alpha / (init_r + 1e-5).
IA3 (Liu et al. 2022): key ia3_l, [out, 1] scales the output of c_attn, [1, in] the input of the feed-forward mlp.c_proj.
VeRA (Kopiczko et al. 2024): shared base_model.vera_A [r, max in], base_model.vera_B [max out, r], per layer
  vera_lambda_b [out], vera_lambda_d [r]; y = x W + b + lambda_b * ((x A[:, :in]^T * lambda_d) B[:out]^T).
"""
import json, math, os, re, struct
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))


def read_safetensors(path):
    dtypes = {"F32": torch.float32, "I64": torch.int64, "BOOL": torch.bool}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = bytearray(data[lo:hi])
        if info["dtype"] == "BOOL":
            t = torch.tensor(list(raw), dtype=torch.uint8).to(torch.bool)
        else:
            t = torch.frombuffer(raw, dtype=dtypes[info["dtype"]]).clone()
        out[name] = t.reshape(info["shape"])
    return out


def pattern_value(patterns, path, default):
    # PEFT: the first key whose regex matches the end of the module path on a dot boundary.
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", path):
            return value
    return default


def adapt(model, config, tensors):
    """Wraps the targeted Conv1D layers so their forward adds the adapter (plain math, PEFT's formulas)."""
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("attn.c_proj", block.attn.c_proj), ("mlp.c_proj", block.mlp.c_proj)]:
            path = f"transformer.h.{i}.{name}"
            key = f"base_model.model.{path}"
            if key + ".lora_A.weight" not in tensors:
                continue
            r = pattern_value(config["rank_pattern"], path, config["r"])
            alpha = pattern_value(config["alpha_pattern"], path, config["lora_alpha"])
            s = alpha / math.sqrt(r) if config["use_rslora"] else alpha / r
            a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]
            m = tensors.get(key + ".lora_magnitude_vector")

            def forward(x, conv=conv, a=a, b=b, s=s, m=m):
                base = x @ conv.weight  # Conv1D weight is [in, out]
                lora = (x @ a.T) @ b.T * s
                if m is None:
                    return base + conv.bias + lora
                norm = (conv.weight.T + s * (b @ a)).norm(p=2, dim=1)
                return m / norm * (base + lora) + conv.bias
            conv.forward = forward


def make(folder, config, shapes_of, seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    state = read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors"))
    model.transformer.load_state_dict(state)
    tensors = {}
    for path, (inf, outf) in shapes_of.items():
        r = pattern_value(config["rank_pattern"], path, config["r"])
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, inf)
        tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(outf, r)
        if config["use_dora"]:
            tensors[key + ".lora_magnitude_vector"] = 1 + 0.5 * torch.rand(outf)
    adapt(model, config, tensors)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    with torch.no_grad():
        logits = model(ids)
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)
    write_safetensors(os.path.join(out, "golden.safetensors"), {"input_ids": ids, "logits": logits})
    print(f"wrote {out}: {len(tensors)} adapter tensors, logits mean {logits.mean().item():.6f}")


def make_other(folder, config, tensors, layer_forward, seed):
    """Writes an adapter of another method: layer_forward(path, conv) returns the adapted forward or None."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("attn.c_proj", block.attn.c_proj), ("mlp.c_proj", block.mlp.c_proj)]:
            forward = layer_forward(f"transformer.h.{i}.{name}", conv)
            if forward is not None:
                conv.forward = forward
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    with torch.no_grad():
        logits = model(ids)
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)
    write_safetensors(os.path.join(out, "golden.safetensors"), {"input_ids": ids, "logits": logits})
    print(f"wrote {out}: {len(tensors)} adapter tensors, logits mean {logits.mean().item():.6f}")


def common(peft_type, **fields):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
              "inference_mode": True, "target_modules": ["c_attn"], "exclude_modules": None, "layers_to_transform": None,
              "layers_pattern": None, "modules_to_save": None, "fan_in_fan_out": True}
    config.update(fields)
    return config


def make_adalora(d):
    init_r, alpha = 4, 6
    config = common("ADALORA", r=8, lora_alpha=alpha, lora_dropout=0.0, bias="none", use_rslora=False, use_dora=False,
                    init_lora_weights=True, target_r=2, init_r=init_r, tinit=0, tfinal=0, deltaT=1, beta1=0.85, beta2=0.85,
                    orth_reg_weight=0.5, total_step=100, rank_pattern={})
    g = torch.Generator().manual_seed(21)
    tensors = {}
    for i in range(CONFIG["n_layer"]):
        path = f"transformer.h.{i}.attn.c_attn"
        keep = [True, False, True, True] if i == 0 else [False, True, False, False]
        config["rank_pattern"][path + ".lora_E"] = keep
        kept = sum(keep)
        key = f"base_model.model.{path}"
        tensors[key + ".lora_A"] = 0.3 * torch.randn(kept, d, generator=g)
        tensors[key + ".lora_E"] = torch.randn(kept, 1, generator=g)
        tensors[key + ".lora_B"] = 0.3 * torch.randn(3 * d, kept, generator=g)

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if key + ".lora_A" not in tensors:
            return None
        a, e, b = tensors[key + ".lora_A"], tensors[key + ".lora_E"], tensors[key + ".lora_B"]
        return lambda x: x @ conv.weight + conv.bias + (x @ (a * e).T) @ b.T * alpha / (init_r + 1e-5)
    make_other("gpt2-tiny-adalora", config, tensors, layer, 13)


def make_ia3(d):
    config = common("IA3", target_modules=["c_attn", "mlp.c_proj"], feedforward_modules=["mlp.c_proj"], init_ia3_weights=True)
    g = torch.Generator().manual_seed(22)
    tensors = {}
    for i in range(CONFIG["n_layer"]):
        tensors[f"base_model.model.transformer.h.{i}.attn.c_attn.ia3_l"] = 1 + 0.5 * torch.randn(3 * d, 1, generator=g)
        tensors[f"base_model.model.transformer.h.{i}.mlp.c_proj.ia3_l"] = 1 + 0.5 * torch.randn(1, 4 * d, generator=g)

    def layer(path, conv):
        l = tensors.get(f"base_model.model.{path}.ia3_l")
        if l is None:
            return None
        if path.endswith("mlp.c_proj"):
            return lambda x: (x * l.view(-1)) @ conv.weight + conv.bias
        return lambda x: (x @ conv.weight + conv.bias) * l.view(-1)
    make_other("gpt2-tiny-ia3", config, tensors, layer, 14)


def make_vera(d):
    r = 6
    config = common("VERA", target_modules=["c_attn", "mlp.c_proj"], r=r, projection_prng_key=0, save_projection=True,
                    vera_dropout=0.0, d_initial=0.1, bias="none", init_weights=True)
    g = torch.Generator().manual_seed(23)
    max_in, max_out = 4 * d, 3 * d
    tensors = {"base_model.vera_A": torch.randn(r, max_in, generator=g) / math.sqrt(max_in),
               "base_model.vera_B": torch.randn(max_out, r, generator=g) / math.sqrt(r)}
    for i in range(CONFIG["n_layer"]):
        for name, out in [("attn.c_attn", 3 * d), ("mlp.c_proj", d)]:
            key = f"base_model.model.transformer.h.{i}.{name}"
            tensors[key + ".vera_lambda_b"] = torch.randn(out, generator=g)
            tensors[key + ".vera_lambda_d"] = torch.randn(r, generator=g)

    def layer(path, conv):
        key = f"base_model.model.{path}"
        if key + ".vera_lambda_b" not in tensors:
            return None
        lb, ld = tensors[key + ".vera_lambda_b"], tensors[key + ".vera_lambda_d"]
        inf, outf = conv.weight.shape
        a, b = tensors["base_model.vera_A"][:, :inf], tensors["base_model.vera_B"][:outf, :]
        return lambda x: x @ conv.weight + conv.bias + lb * (((x @ a.T) * ld) @ b.T)
    make_other("gpt2-tiny-vera", config, tensors, layer, 15)


def base_config(**fields):
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
        "inference_mode": True, "r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["c_attn", "c_proj"],
        "exclude_modules": None, "layers_to_transform": None, "layers_pattern": None, "bias": "none",
        "fan_in_fan_out": True, "use_rslora": False, "use_dora": False, "init_lora_weights": True,
        "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {},
    }
    config.update(fields)
    return config


def main():
    d = CONFIG["n_embd"]
    every = {}
    for i in range(CONFIG["n_layer"]):
        every[f"transformer.h.{i}.attn.c_attn"] = (d, 3 * d)
        every[f"transformer.h.{i}.attn.c_proj"] = (d, d)
        every[f"transformer.h.{i}.mlp.c_proj"] = (4 * d, d)
    make("gpt2-tiny-lora", base_config(rank_pattern={r"h\.1\.attn\.c_attn": 2}, alpha_pattern={"mlp.c_proj": 3}), every, 11)
    attn_only = {k: v for k, v in every.items() if ".attn.c_attn" in k}
    make("gpt2-tiny-dora", base_config(target_modules=["c_attn"], use_dora=True, use_rslora=True, r=2, lora_alpha=4), attn_only, 12)
    make_adalora(d)
    make_ia3(d)
    make_vera(d)


if __name__ == "__main__":
    main()

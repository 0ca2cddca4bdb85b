"""Writes gpt2-tiny-{lora,dora,adalora,ia3,vera,pissa,olora,prompt,prefix}/: adapters for gpt2-tiny in Hugging Face
PEFT's file layout and what PyTorch computes with them, the adapter math written out in plain PyTorch (no peft package).
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_lora_golden.py

Each folder holds
  adapter_config.json        the config fields PEFT's save_pretrained writes (GPT-2's Conv1D layers: fan_in_fan_out = true)
  adapter_model.safetensors  base_model.model.transformer.h.{i}.{attn.c_attn|attn.c_proj|mlp.c_proj}.lora_A.weight [r, in],
                             ...lora_B.weight [out, r], DoRA: ...lora_magnitude_vector [out] (PEFT drops ".weight" there);
                             prompt/prefix tuning: the single key prompt_embeddings (no prefix)
  golden.safetensors         input_ids (int64 [2,16]) and logits [2,16,64] of the adapted model (of the real tokens only
                             for prompt tuning); loss [], the mean cross-entropy of the logits at positions 0..T-2
                             against input_ids at 1..T-1; grad.<key> for every adapter tensor PEFT trains (<key> as in
                             adapter_model.safetensors; VeRA: only vera_lambda_b/d, not the frozen shared bases); and
                             logits_after_step [2,16,64] after one torch.optim.AdamW step on those tensors (lr 1e-2,
                             betas (0.9, 0.999), eps 1e-8, weight_decay 0) with that loss.
Existing logits are kept when a regeneration reproduces them to rounding (another PyTorch build moves them by ~1e-6).
LoRA (Hu et al. 2021): y = x W + b + s (x A^T) B^T, s = alpha / r (rank_pattern/alpha_pattern per module).
DoRA (Liu et al. 2024): y = (m / ||W^T + s B A||_row) (x W + s (x A^T) B^T) + b, as PEFT's DoRA linear layer computes it,
  the norm detached (a constant in the backward pass, section 4.3, as PEFT).
AdaLoRA (Zhang et al. 2023): keys lora_A [r, in], lora_E [r, 1], lora_B [out, r] (no ".weight"), only the kept
  triplets of rank_pattern; y = x W + b + x (A * E)^T B^T * alpha / (init_r + 1e-5). The loss has no orthogonal
  regulariser (PEFT adds it only in its own training forward).
IA3 (Liu et al. 2022): key ia3_l, [out, 1] scales the output of c_attn, [1, in] the input of the feed-forward mlp.c_proj.
VeRA (Kopiczko et al. 2024): shared base_model.vera_A [r, max in], base_model.vera_B [max out, r], per layer
  vera_lambda_b [out], vera_lambda_d [r]; y = x W + b + lambda_b * ((x A[:, :in]^T * lambda_d) B[:out]^T).
PiSSA (Meng et al. 2024) / OLoRA (Buyukakyuz 2024): LoRA files with init_lora_weights "pissa" / "olora"; the base holds
  W0 - s B0 A0 with B0, A0 from the SVD / thin QR of the original W0 [out, in] (see make_principal), the adapter the
  saved, trained A and B (not A0, B0).
Prompt tuning (Lester et al. 2021): prompt_embeddings [4, n_embd] prepended to the token embeddings; positions run over
  the virtual tokens too.
Prefix tuning (Li and Liang 2021): prompt_embeddings [4, n_layer*2*n_embd], per layer keys (index 2i) and values (2i+1)
  in front of the sequence's (past_key_values); the real tokens take positions 4..4+T-1.
"""
import json, math, os, re, struct
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))


def read_safetensors(path):
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
              "U8": torch.uint8, "BOOL": torch.bool}
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
                # PEFT detaches the norm (Liu et al. 2024, section 4.3): a constant in the backward pass.
                norm = (conv.weight.T + s * (b @ a)).norm(p=2, dim=1).detach()
                return m / norm * (base + lora) + conv.bias
            conv.forward = forward


ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)


def next_token_loss(logits, ids):
    """Mean cross-entropy of the logits at positions 0..T-2 against the tokens at 1..T-1."""
    vocab = logits.size(-1)
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))


def kept_logits(path, ids, logits):
    """The logits already in path when they were written for the same input_ids and agree to rounding: regenerating
    with another PyTorch build (another BLAS) moves them by ~1e-6, and the committed values stay as they were."""
    if not os.path.exists(path):
        return logits
    old = read_safetensors(path)
    if "logits" in old and torch.equal(old["input_ids"], ids) and old["logits"].shape == logits.shape:
        diff = (old["logits"] - logits).abs().max().item()
        if diff < 1e-5:
            return old["logits"]
        print(f"  {path}: logits moved by {diff:.3g}; writing the new ones")
    return logits


def finish(folder, config, tensors, trainable, run, ids):
    """Writes the adapter folder and its golden.safetensors.

    run(ids) gives the logits of the adapted model (whose adapter math reads the tensors of `tensors` in place);
    `trainable` names the tensors PEFT trains. Besides input_ids and logits the golden file holds loss (the
    next_token_loss), grad.<key> (its gradient with respect to each trainable tensor) and logits_after_step (the
    logits after one torch.optim.AdamW step on the trainable tensors with ADAMW)."""
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)
    if isinstance(run, torch.nn.Module):
        for p in run.parameters():
            p.requires_grad_(False)  # the base model is frozen
    with torch.no_grad():
        logits = run(ids)
    golden_path = os.path.join(out, "golden.safetensors")
    golden = {"input_ids": ids, "logits": kept_logits(golden_path, ids, logits)}

    params = [tensors[k] for k in trainable]
    for p in params:
        p.requires_grad_(True)
    loss = next_token_loss(run(ids), ids)
    loss.backward()
    golden["loss"] = loss.detach()
    golden.update({f"grad.{k}": tensors[k].grad.clone() for k in trainable})
    torch.optim.AdamW(params, **ADAMW).step()
    with torch.no_grad():
        golden["logits_after_step"] = run(ids)
    write_safetensors(golden_path, golden)
    print(f"wrote {out}: {len(tensors)} adapter tensors ({len(params)} trained), logits mean {logits.mean().item():.6f}, "
          f"loss {loss.item():.6f}, after one step {next_token_loss(golden['logits_after_step'], ids).item():.6f}")


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
    finish(folder, config, tensors, list(tensors), model, ids)


def make_other(folder, config, tensors, layer_forward, seed, trainable=None):
    """Writes an adapter of another method: layer_forward(path, conv) returns the adapted forward or None;
    trainable: the keys of the tensors PEFT trains (all by default)."""
    trainable = list(tensors) if trainable is None else trainable
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("attn.c_proj", block.attn.c_proj), ("mlp.c_proj", block.mlp.c_proj)]:
            forward = layer_forward(f"transformer.h.{i}.{name}", conv)
            if forward is not None:
                conv.forward = forward
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


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
    # PEFT trains only the per-layer scales; the shared random bases stay frozen.
    make_other("gpt2-tiny-vera", config, tensors, layer, 15, [k for k in tensors if ".vera_lambda_" in k])


def make_principal(folder, config, seed):
    """PiSSA / OLoRA: PEFT's init moves s B0 A0 out of the ORIGINAL base weight W0 [out, in] (GPT-2's Conv1D stores
    W0^T, PEFT transposes for fan_in_fan_out), leaving W0 - s B0 A0 in the base, and loading then puts the saved
    (trained) A and B in the adapter. PiSSA (PEFT's pissa_init): W0 = U S V^T, A0 = diag(sqrt(S_r / s)) V_r^T,
    B0 = U_r diag(sqrt(S_r / s)). OLoRA (PEFT's olora_init): thin QR W0 = Q R, B0 = Q[:, :r], A0 = R[:r, :], unscaled.
    Both products are unchanged by the sign choices of the SVD / QR, so any LAPACK gives the same residual."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for i, block in enumerate(model.transformer.h):
        for name, conv in [("attn.c_attn", block.attn.c_attn), ("attn.c_proj", block.attn.c_proj), ("mlp.c_proj", block.mlp.c_proj)]:
            path = f"transformer.h.{i}.{name}"
            r = pattern_value(config["rank_pattern"], path, config["r"])
            alpha = pattern_value(config["alpha_pattern"], path, config["lora_alpha"])
            s = alpha / math.sqrt(r) if config["use_rslora"] else alpha / r
            w0 = conv.weight.detach().T.to(torch.float32)  # [out, in]
            if config["init_lora_weights"] == "pissa":
                u, sv, vh = torch.linalg.svd(w0, full_matrices=False)
                root = torch.sqrt(sv[:r] / s)
                a0, b0 = torch.diag(root) @ vh[:r], u[:, :r] @ torch.diag(root)
            else:
                q, rr = torch.linalg.qr(w0)
                a0, b0 = rr[:r].contiguous(), q[:, :r].contiguous()
            with torch.no_grad():
                conv.weight.copy_((w0 - s * b0 @ a0).T)
            key = f"base_model.model.{path}"
            # "Trained": moved away from the initial factors, so a wrong residual or a reset to A0/B0 shows.
            tensors[key + ".lora_A.weight"] = a0 + 0.1 * torch.randn(a0.shape, generator=g)
            tensors[key + ".lora_B.weight"] = b0 + 0.05 * torch.randn(b0.shape, generator=g)
    adapt(model, config, tensors)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, list(tensors), model, ids)


def prompt_config(peft_type, n, **fields):
    """PromptLearningConfig's fields as PEFT's save_pretrained writes them for GPT-2 (token_dim, num_layers and
    num_attention_heads filled from the model config)."""
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "num_virtual_tokens": n, "token_dim": CONFIG["n_embd"],
              "num_transformer_submodules": 1, "num_attention_heads": CONFIG["n_head"], "num_layers": CONFIG["n_layer"],
              "modules_to_save": None}
    config.update(fields)
    return config


def gpt2_forward(model, x, positions, past=None):
    """GPT2Model's forward from input embeddings x [B, t, C] at the given positions, each layer's attention first
    given past = [(K, V)] of [B, H, n, D] (Hugging Face's past_key_values: keys/values in front of the sequence's,
    causal mask bias[:, :, n : n + t, : n + t]). Returns the logits [B, t, V]."""
    tr = model.transformer
    x = x + tr.wpe(positions).unsqueeze(0)
    for i, block in enumerate(tr.h):
        attn, h = block.attn, block.ln_1(x)
        b, t, c = h.shape
        q, k, v = attn.c_attn(h).split(c, dim=2)
        q, k, v = attn.split_heads(q), attn.split_heads(k), attn.split_heads(v)
        n = 0
        if past is not None:
            n = past[i][0].size(2)
            k, v = torch.cat([past[i][0], k], dim=2), torch.cat([past[i][1], v], dim=2)
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        w = torch.where(attn.bias[:, :, n:n + t, :n + t], w, torch.tensor(torch.finfo(w.dtype).min, dtype=w.dtype))
        y = torch.matmul(w.softmax(dim=-1), v).permute(0, 2, 1, 3).contiguous().view(b, t, c)
        x = x + attn.c_proj(y)
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(tr.ln_f(x))


def make_prompt(seed):
    """Prompt tuning (Lester et al. 2021) as PEFT's PeftModelForCausalLM: inputs_embeds = [P; wte(ids)] with positions
    0..n+T-1 over both; the golden logits are those of the real tokens (the last T; PEFT returns all n + T and pads
    the labels with -100)."""
    n = 4
    config = prompt_config("PROMPT_TUNING", n, prompt_tuning_init="RANDOM", prompt_tuning_init_text=None,
                           tokenizer_name_or_path=None, tokenizer_kwargs=None)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {"prompt_embeddings": 0.3 * torch.randn(n, CONFIG["n_embd"], generator=g)}
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))

    def run(ids):
        p = tensors["prompt_embeddings"].unsqueeze(0).expand(ids.size(0), -1, -1)
        x = torch.cat([p, model.transformer.wte(ids)], dim=1)
        return gpt2_forward(model, x, torch.arange(n + ids.size(1)))[:, n:]
    for p in model.parameters():
        p.requires_grad_(False)
    finish("gpt2-tiny-prompt", config, tensors, list(tensors), run, ids)


def make_prefix(seed):
    """Prefix tuning (Li and Liang 2021) as PEFT's get_prompt: prompt_embeddings [n, L*2*C] viewed as
    [B, n, L*2, H, D], permuted to [L*2, B, H, n, D]; layer i takes index 2i as keys and 2i+1 as values
    (past_key_values). The real tokens take positions n..n+T-1 and attend to every prefix position."""
    n, L, H, C = 4, CONFIG["n_layer"], CONFIG["n_head"], CONFIG["n_embd"]
    config = prompt_config("PREFIX_TUNING", n, encoder_hidden_size=C, prefix_projection=False, init_weights=None)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {"prompt_embeddings": 0.5 * torch.randn(n, L * 2 * C, generator=g)}
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))

    def run(ids):
        b = ids.size(0)
        kv = tensors["prompt_embeddings"].unsqueeze(0).expand(b, -1, -1).reshape(b, n, L * 2, H, C // H)
        kv = kv.permute(2, 0, 3, 1, 4)
        past = [(kv[2 * i], kv[2 * i + 1]) for i in range(L)]
        return gpt2_forward(model, model.transformer.wte(ids), torch.arange(n, n + ids.size(1)), past)
    for p in model.parameters():
        p.requires_grad_(False)
    finish("gpt2-tiny-prefix", config, tensors, list(tensors), run, ids)


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
    make_principal("gpt2-tiny-pissa", base_config(init_lora_weights="pissa", alpha_pattern={"mlp.c_proj": 6}), 16)
    make_principal("gpt2-tiny-olora", base_config(init_lora_weights="olora", lora_alpha=12, rank_pattern={r"h\.0\.mlp\.c_proj": 2}), 17)
    make_prompt(18)
    make_prefix(19)


if __name__ == "__main__":
    main()

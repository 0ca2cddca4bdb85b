"""Writes gpt2-tiny-lily/ (PEFT-exact), gpt2-tiny-lily-blocks/ (engine extension) and gpt2-tiny-xlora/ (PEFT-exact, with
its LoRA experts in subfolders): Lily and X-LoRA adapters for gpt2-tiny in Hugging Face PEFT's file layout, the adapter
math written in plain PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py
(logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_lily_xlora_golden.py

Lily (PEFT 5d602fd, lily/layer.py and lily/model.py): only nn.Linear is wrapped (GPT-2's Conv1D raises), so PEFT's
files for GPT-2 adapt lm_head (and save base_model.model.lm_head.base_layer.weight beside it). Keys lily_A.weight
[r, in], lily_B.weight [num_B r, out], lily_router.weight [num_B, r]; h = x A^T, p = mean over all tokens of
softmax(h R^T), B* = sum_e p_e B_e (B viewed [num_B, r, out]), y = base(x) + scaling h B*. After injection A is shared by
stride_A consecutive layers of one (target suffix, shape) group and B by the whole group; state_dict() then holds a
copy of a shared tensor under every layer's path.
The -blocks folder adapts GPT-2's Conv1D c_attn and mlp.c_fc of both blocks (the engine's extension; nn.Linear
orientation): stride_A = 2, so each target's two layers share A and B and the file holds equal copies.

X-LoRA (xlora/model.py, classifier.py, layer.py; PeftModel.save_pretrained): the folder holds the classifier only,
base_model.internal_xlora_classifier.layers.<i>.{weight,bias} (i counts the Sequential's ReLU and Dropout modules), and
adapter_config.json whose `adapters` maps each expert's name to its LoRA folder as the user gave it (here relative
subfolders; PEFT loads a Hub repository's experts from subfolders named after them). Each expert is an ordinary PEFT
LoRA folder (GPT-2's Conv1D layers, fan_in_fan_out). Forward: a no-grad scaling pass with every expert weighted
scaling_pass_value gives hidden_states[-1] (after ln_f); the classifier gives logits [B, T, n] or [B, T, n L] ->
scalings [B, T, L, n] (expanded over L unless layerwise_scalings), softmax(logits / T) when enable_softmax; each LoRA
layer l (the model's LoRA layers in module order) takes c = scalings[:, :, l, :], masks all but its top_k_lora largest,
softmaxes the kept ones when enable_softmax_topk, and adds expert k as B_k A_k (x * c[..., k]) * s_k * global_scaling_weight.
Only the classifier trains (use_trainable_adapters False). The golden input never puts ties in a top-k (the scaling
pass of the top-k folder is at 0, where any choice gives 0), because torch.topk's choice among equal values varies.
"""
import json, math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, ADAMW, finish, kept_logits, next_token_loss, read_safetensors


def base_model(seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    return model


def lily_config(**fields):
    """LilyConfig's fields as save_pretrained writes them."""
    config = {"peft_type": "LILY", "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "r": 4, "stride_A": 1, "num_B": 3, "scaling": 1.5,
              "target_modules": ["lm_head"], "exclude_modules": None, "modules_to_save": None, "layers_to_transform": None,
              "layers_pattern": None, "init_weights": True}
    config.update(fields)
    return config


def lily_delta(config, a, b, router):
    num_b = config["num_B"]

    def delta(x):
        experts = b.reshape(num_b, -1, b.shape[1])
        hidden = x @ a.T
        p = torch.softmax(hidden @ router.T, dim=-1).reshape(-1, num_b).mean(dim=0)
        return (hidden @ torch.einsum("e,eio->io", p, experts)) * config["scaling"]
    return delta


def lily_tensors(config, out_f, in_f, g):
    r, num_b = config["r"], config["num_B"]
    # Non-zero B (PEFT's init zeroes it): a trained adapter.
    return (0.4 * torch.randn(r, in_f, generator=g), 0.4 * torch.randn(num_b * r, out_f, generator=g),
            0.8 * torch.randn(num_b, r, generator=g))


def make_lily_head():
    config = lily_config()
    model = base_model(41)
    g = torch.Generator().manual_seed(141)
    head = model.lm_head
    a, b, router = lily_tensors(config, CONFIG["vocab_size"], CONFIG["n_embd"], g)
    k = "base_model.model.lm_head"
    tensors = {k + ".lily_A.weight": a, k + ".lily_B.weight": b, k + ".lily_router.weight": router}
    trainable = list(tensors)
    tensors[k + ".base_layer.weight"] = head.weight.detach().clone()
    delta = lily_delta(config, a, b, router)
    head.forward = lambda x: x @ head.weight.T + delta(x)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish("gpt2-tiny-lily", config, tensors, trainable, model, ids)


def finish_shared(folder, config, tensors, run, ids):
    """As finish, for tensors of which several keys hold the same torch tensor (Lily's shared A and B): the file holds a
    copy under every key, grad.<key> is the shared tensor's gradient, and AdamW steps each tensor once."""
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), {k: v.detach().clone() for k, v in tensors.items()})
    for p in run.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        logits = run(ids)
    golden_path = os.path.join(out, "golden.safetensors")
    golden = {"input_ids": ids, "logits": kept_logits(golden_path, ids, logits)}
    unique = list({id(t): t for t in tensors.values()}.values())
    for p in unique:
        p.requires_grad_(True)
    loss = next_token_loss(run(ids), ids)
    loss.backward()
    golden["loss"] = loss.detach()
    golden.update({f"grad.{k}": t.grad.clone() for k, t in tensors.items()})
    torch.optim.AdamW(unique, **ADAMW).step()
    with torch.no_grad():
        golden["logits_after_step"] = run(ids)
    write_safetensors(golden_path, golden)
    print(f"wrote {out}: {len(tensors)} keys ({len(unique)} distinct tensors), loss {loss.item():.6f}")


def make_lily_blocks():
    config = lily_config(r=3, stride_A=2, num_B=2, scaling=1.0, target_modules=["c_attn", "mlp.c_fc"])
    model = base_model(42)
    g = torch.Generator().manual_seed(142)
    tensors = {}
    shared = {}
    for name in ["attn.c_attn", "mlp.c_fc"]:
        for i, block in enumerate(model.transformer.h):
            conv = block.attn.c_attn if name == "attn.c_attn" else block.mlp.c_fc
            in_f, out_f = conv.weight.shape
            k = f"base_model.model.transformer.h.{i}.{name}"
            a, b, router = lily_tensors(config, out_f, in_f, g)
            if i > 0:  # layer 1 is in layer 0's stride_A block and group: both A and B are layer 0's
                a, b = shared[name]
            shared[name] = (a, b)
            tensors.update({k + ".lily_A.weight": a, k + ".lily_B.weight": b, k + ".lily_router.weight": router})
            delta = lily_delta(config, a, b, router)
            conv.forward = lambda x, conv=conv, delta=delta: x @ conv.weight + conv.bias + delta(x)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish_shared("gpt2-tiny-lily-blocks", config, tensors, model, ids)


def lora_config(r, alpha, targets):
    """An expert's LoraConfig as save_pretrained writes it for GPT-2 (Conv1D: fan_in_fan_out)."""
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
            "inference_mode": True, "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": targets,
            "exclude_modules": None, "layers_to_transform": None, "layers_pattern": None, "bias": "none",
            "fan_in_fan_out": True, "use_rslora": False, "use_dora": False, "init_lora_weights": True,
            "modules_to_save": None, "rank_pattern": {}, "alpha_pattern": {}}


def xlora_config(adapters, **fields):
    config = {"peft_type": "XLORA", "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "hidden_size": CONFIG["n_embd"], "adapters": adapters,
              "enable_softmax": True, "enable_softmax_topk": False, "layerwise_scalings": False, "xlora_depth": 1,
              "xlora_size": 2048, "xlora_dropout_p": 0.2, "use_trainable_adapters": False, "softmax_temperature": 1.0,
              "top_k_lora": None, "scaling_pass_value": 0.0, "global_scaling_weight": 1.0}
    config.update(fields)
    return config


def layer_scalings(config, scalings, l):
    """XLoraLayer.get_maybe_topk_scalings."""
    c = scalings[:, :, l, :]
    if config["top_k_lora"] is not None:
        _, top = torch.topk(c, k=config["top_k_lora"], dim=-1)
        mask = torch.zeros_like(c, dtype=torch.bool)
        mask.scatter_(-1, top, True)
        c = c * mask.to(c.dtype)
    if config["enable_softmax_topk"]:
        nonzero = c != 0
        c = torch.softmax(c.masked_fill(~nonzero, float("-inf")), dim=-1).masked_fill(~nonzero, 0.0)
    return c


def make_xlora(folder, experts, seed, **fields):
    """experts: (name, r, alpha, targets) of each LoRA expert; fields: the X-LoRA config's."""
    out = os.path.join(HERE, folder)
    model = base_model(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(seed + 100)
    config = xlora_config({name: name for name, _, _, _ in experts}, **fields)
    blocks = [(f"transformer.h.{i}.{name}", conv) for i, block in enumerate(model.transformer.h)
              for name, conv in [("attn.c_attn", block.attn.c_attn), ("attn.c_proj", block.attn.c_proj),
                                 ("mlp.c_fc", block.mlp.c_fc), ("mlp.c_proj", block.mlp.c_proj)]]
    factors = []  # per expert: path -> (A, B, s)
    for name, r, alpha, targets in experts:
        mine, tensors = {}, {}
        for path, conv in blocks:
            if not any(path.endswith("." + t) for t in targets):
                continue
            in_f, out_f = conv.weight.shape
            a, b = 0.4 * torch.randn(r, in_f, generator=g), 0.4 * torch.randn(out_f, r, generator=g)
            mine[path] = (a, b, alpha / r)
            tensors[f"base_model.model.{path}.lora_A.weight"], tensors[f"base_model.model.{path}.lora_B.weight"] = a, b
        factors.append(mine)
        os.makedirs(os.path.join(out, name), exist_ok=True)
        with open(os.path.join(out, name, "adapter_config.json"), "w") as f:
            json.dump(lora_config(r, alpha, targets), f, indent=2)
        write_safetensors(os.path.join(out, name, "adapter_model.safetensors"), tensors)
    # The LoRA layers in module order: those where some expert sits.
    layers = [(path, conv) for path, conv in blocks if any(path in m for m in factors)]
    n, L = len(experts), len(layers)
    state = {}
    for l, (path, conv) in enumerate(layers):
        def forward(x, conv=conv, path=path, l=l):
            result = x @ conv.weight + conv.bias
            c = layer_scalings(config, state["scalings"], l)
            for k, mine in enumerate(factors):
                if path in mine:
                    a, b, s = mine[path]
                    result = result + ((x * c[:, :, k].unsqueeze(-1)) @ a.T) @ b.T * s * config["global_scaling_weight"]
            return result
        conv.forward = forward
    # The classifier: Linear(H, size) ReLU Dropout ... Linear(., n or n L); Sequential indices count ReLU/Dropout.
    depth, size = config["xlora_depth"], config["xlora_size"]
    outputs = n * L if config["layerwise_scalings"] else n
    widths = [CONFIG["n_embd"]] + [size] * (depth - 1) + [outputs]
    stride = 3 if config["xlora_dropout_p"] > 0 else 2
    classifier = {}
    for j in range(depth):
        index = 0 if depth == 1 else j * stride
        classifier[f"base_model.internal_xlora_classifier.layers.{index}.weight"] = 0.5 * torch.randn(widths[j + 1], widths[j], generator=g)
        classifier[f"base_model.internal_xlora_classifier.layers.{index}.bias"] = 0.3 * torch.randn(widths[j + 1], generator=g)
    linears = list(zip(list(classifier.values())[0::2], list(classifier.values())[1::2]))

    def run(ids):
        b, t = ids.shape
        with torch.no_grad():
            state["scalings"] = torch.full((b, t, L, n), float(config["scaling_pass_value"]))
            hidden = model.transformer(ids)  # hidden_states[-1]: after ln_f
        x = hidden
        for j, (w, bias) in enumerate(linears):
            x = x @ w.T + bias
            if j < len(linears) - 1:
                x = torch.relu(x)  # the Dropout is the identity in eval mode
        scalings = x.reshape(b, t, L, n) if config["layerwise_scalings"] else x.unsqueeze(2).expand(-1, -1, L, -1)
        if config["enable_softmax"]:
            scalings = torch.softmax(scalings / config["softmax_temperature"], dim=-1)
        state["scalings"] = scalings
        return model(ids)

    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, classifier, list(classifier), run, ids)


def main():
    make_lily_head()
    make_lily_blocks()
    # Three experts (one also on mlp.c_proj: 4 LoRA layers), a depth-2 layerwise classifier with dropout (indices 0, 3),
    # top-2 of 3 experts per token, temperature and global weight; the scaling pass at 0 is the base model.
    make_xlora("gpt2-tiny-xlora", [("0", 2, 4, ["c_attn"]), ("1", 3, 3, ["c_attn", "mlp.c_proj"]), ("2", 2, 2, ["c_attn"])], 51,
               layerwise_scalings=True, xlora_depth=2, xlora_size=8, xlora_dropout_p=0.2, top_k_lora=2,
               softmax_temperature=0.7, global_scaling_weight=1.3)
    # Two experts, PEFT's default depth-1 classifier shared by every layer, and a scaling pass at 0.3 (not the base).
    make_xlora("gpt2-tiny-xlora-dense", [("math", 2, 4, ["c_attn", "mlp.c_fc"]), ("code", 2, 2, ["c_attn", "mlp.c_fc"])], 52,
               scaling_pass_value=0.3)


if __name__ == "__main__":
    main()

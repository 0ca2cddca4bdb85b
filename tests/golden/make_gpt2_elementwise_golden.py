"""Writes the elementwise family's golden folders for gpt2-tiny in Hugging Face PEFT's file layout, the adapter math
written in plain PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py (logits,
loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_elementwise_golden.py

PEFT (5d602fd) folders, each adapting what PEFT accepts on GPT-2:
  gpt2-tiny-hira          HiRA on the Conv1D c_attn and mlp.c_proj (fan_in_fan_out = true), rank_pattern;
                          keys hira_A [r, in], hira_B [out, r]; dW = W0 * (B @ A) with W0 in nn.Linear orientation.
  gpt2-tiny-beft          BEFT on lm_head (nn.Linear, no bias: PEFT accepts only nn.Linear); key beft_bias [1, out];
                          y = base(x) + beft_bias. lm_head is an embedding-layer name, so its base weight is saved too.
  gpt2-tiny-supertuning   Super-Tuning on lm_head: supertuning_indices [k] int32 = topk(|W|.flatten(), k) in topk's
                          order, supertuning_values [k]; W_eff = W.flatten().scatter_add(indices, values).
  gpt2-tiny-supra         The same with r (Supra): also supertuning_lora_A.weight [r, in], supertuning_lora_B.weight
                          [out, r], added as (lora_alpha / r) B A x.
  gpt2-tiny-glora         GLoRA on lm_head with PEFT's default paths: glora_A/B.Xd [out, r], .Xu [r, in]; lm_head has
                          no bias, so C, D, E are "none" paths whose zeros buffers PEFT saves (glora_C.zeros [in, 1],
                          glora_D.zeros, glora_E.zeros [out]). W' = W + W * A + B.
Engine extensions (PEFT refuses Conv1D for these methods; the engine keeps nn.Linear orientation and PEFT's keys):
  gpt2-tiny-beft-blocks   BEFT on c_attn and attn.c_proj (with biases).
  gpt2-tiny-glora-blocks  GLoRA on c_attn with vector A, B, D, E and a low-rank C: b' = b + b * D + E + W C.
"""
import os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish, pattern_value
from make_gpt2_lycoris_golden import base_model

D, V = CONFIG["n_embd"], CONFIG["vocab_size"]


def config(peft_type, **fields):
    """PeftConfig's own fields as save_pretrained writes them, then the method's."""
    c = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
         "revision": None, "inference_mode": True}
    c.update(fields)
    return c


def blocks(model, names):
    """(path, Conv1D) of the named Conv1D layers of every block."""
    for i, block in enumerate(model.transformer.h):
        for name in names:
            conv = block
            for part in name.split("."):
                conv = getattr(conv, part)
            yield f"transformer.h.{i}.{name}", conv


def ids_for():
    return torch.randint(0, V, (BATCH, TIME))


def head_run(folder, cfg, tensors, trainable, model, forward):
    """lm_head adapted: y = forward(x, W); its base weight saved beside the adapter (PEFT's embedding rule)."""
    head = model.lm_head
    tensors["base_model.model.lm_head.base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: forward(x, head.weight)
    finish(folder, cfg, tensors, trainable, model, ids_for())


def make_hira(seed):
    cfg = config("HIRA", r=4, target_modules=["c_attn", "mlp.c_proj"], exclude_modules=None, hira_dropout=0.0,
                 fan_in_fan_out=True, modules_to_save=None, init_weights=True, layers_to_transform=None,
                 layers_pattern=None, rank_pattern={r"h\.1\.attn\.c_attn": 2})
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in blocks(model, ["attn.c_attn", "mlp.c_proj"]):
        in_f, out_f = conv.weight.shape
        r = pattern_value(cfg["rank_pattern"], path, cfg["r"])
        key = f"base_model.model.{path}"
        tensors[key + ".hira_A"] = 0.5 * torch.randn(r, in_f, generator=g)
        tensors[key + ".hira_B"] = 0.5 * torch.randn(out_f, r, generator=g)
        # PEFT: F.linear(x, transpose(W, fan_in_fan_out) * (B @ A)) added to the base output.
        conv.forward = lambda x, conv=conv, key=key: (x @ conv.weight + conv.bias
                                                      + x @ (conv.weight.T * (tensors[key + ".hira_B"] @ tensors[key + ".hira_A"])).T)
    finish("gpt2-tiny-hira", cfg, tensors, list(tensors), model, ids_for())


def beft_config(**fields):
    return config("BEFT", **{"target_modules": ["lm_head"], "modules_to_save": None, "init_weights": True, **fields})


def make_beft(seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    key = "base_model.model.lm_head.beft_bias"
    tensors = {key: torch.randn(1, V, generator=g)}
    head_run("gpt2-tiny-beft", beft_config(), tensors, [key], model, lambda x, w: x @ w.T + tensors[key].flatten())


def make_beft_blocks(seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in blocks(model, ["attn.c_attn", "attn.c_proj"]):
        key = f"base_model.model.{path}.beft_bias"
        tensors[key] = torch.randn(1, conv.weight.shape[1], generator=g)
        conv.forward = lambda x, conv=conv, key=key: x @ conv.weight + conv.bias + tensors[key].flatten()
    finish("gpt2-tiny-beft-blocks", beft_config(target_modules=["c_attn", "attn.c_proj"]), tensors, list(tensors), model, ids_for())


def make_supertuning(folder, seed, r=None, lora_alpha=None):
    cfg = config("SUPERTUNING", target_modules=["lm_head"], modules_to_save=None, sparsity=0.9, select_top=True, r=r,
                 lora_alpha=lora_alpha, lora_dropout=0.0, init_weights=True, save_precomputed_indices=True)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    weight = model.lm_head.weight
    k = int(weight.numel() * (1 - cfg["sparsity"]))
    key = "base_model.model.lm_head"
    tensors = {key + ".supertuning_indices": torch.topk(weight.detach().abs().flatten(), k=k, largest=True).indices.to(torch.int32),
               key + ".supertuning_values": 0.3 * torch.randn(k, generator=g)}
    trainable = [key + ".supertuning_values"]
    if r is not None:
        tensors[key + ".supertuning_lora_A.weight"] = 0.3 * torch.randn(r, D, generator=g)
        tensors[key + ".supertuning_lora_B.weight"] = 0.3 * torch.randn(V, r, generator=g)
        trainable += [key + ".supertuning_lora_A.weight", key + ".supertuning_lora_B.weight"]

    def forward(x, weight):
        # PEFT: F.linear(x, W.flatten().scatter_add(indices, values)) + (alpha / r) B(A(x)).
        w = weight.reshape(-1).scatter_add(0, tensors[key + ".supertuning_indices"].long(), tensors[key + ".supertuning_values"]).reshape_as(weight)
        out = x @ w.T
        if r is not None:
            out = out + (lora_alpha / r) * ((x @ tensors[key + ".supertuning_lora_A.weight"].T) @ tensors[key + ".supertuning_lora_B.weight"].T)
        return out
    head_run(folder, cfg, tensors, trainable, model, forward)


def glora_config(**fields):
    return config("GLORA", **{"r": 4, "target_modules": ["lm_head"], "bias": "none", "modules_to_save": None,
                              "config_A_B": "lora", "config_C": "lora", "config_D_E": "constant", "init_weights": True, **fields})


def make_glora(seed):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    k = "base_model.model.lm_head"
    r = 4
    tensors = {k + ".glora_A.Xd": 0.3 * torch.randn(V, r, generator=g), k + ".glora_A.Xu": 0.3 * torch.randn(r, D, generator=g),
               k + ".glora_B.Xd": 0.3 * torch.randn(V, r, generator=g), k + ".glora_B.Xu": 0.3 * torch.randn(r, D, generator=g),
               k + ".glora_C.zeros": torch.zeros(D, 1), k + ".glora_D.zeros": torch.zeros(V), k + ".glora_E.zeros": torch.zeros(V)}
    trainable = [key for key in tensors if not key.endswith(".zeros")]

    def forward(x, weight):
        # PEFT: base(x) + F.linear(x, W + W * A + B) - base(x).
        a = tensors[k + ".glora_A.Xd"] @ tensors[k + ".glora_A.Xu"]
        b = tensors[k + ".glora_B.Xd"] @ tensors[k + ".glora_B.Xu"]
        base = x @ weight.T
        return base + x @ (weight + weight * a + b).T - base
    head_run("gpt2-tiny-glora", glora_config(r=r), tensors, trainable, model, forward)


def make_glora_blocks(seed):
    r = 3
    cfg = glora_config(r=r, target_modules=["c_attn"], config_A_B="vector", config_C="lora", config_D_E="vector")
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    for path, conv in blocks(model, ["attn.c_attn"]):
        in_f, out_f = conv.weight.shape
        k = f"base_model.model.{path}"
        tensors.update({k + ".glora_A.X": 0.3 * torch.randn(out_f, 1, generator=g), k + ".glora_B.X": 0.1 * torch.randn(out_f, 1, generator=g),
                        k + ".glora_C.Xd": 0.3 * torch.randn(in_f, r, generator=g), k + ".glora_C.Xu": 0.3 * torch.randn(r, 1, generator=g),
                        k + ".glora_D.X": 0.3 * torch.randn(out_f, generator=g), k + ".glora_E.X": 0.1 * torch.randn(out_f, generator=g)})

        def forward(x, conv=conv, k=k):
            w, b = conv.weight.T, conv.bias  # nn.Linear orientation [out, in]
            dw = w * tensors[k + ".glora_A.X"] + tensors[k + ".glora_B.X"]
            db = b * tensors[k + ".glora_D.X"] + tensors[k + ".glora_E.X"] + (w @ (tensors[k + ".glora_C.Xd"] @ tensors[k + ".glora_C.Xu"])).squeeze(-1)
            base = x @ conv.weight + conv.bias
            return base + (x @ (w + dw).T + b + db) - base
        conv.forward = forward
    finish("gpt2-tiny-glora-blocks", cfg, tensors, list(tensors), model, ids_for())


def main():
    make_hira(41)
    make_beft(42)
    make_beft_blocks(43)
    make_supertuning("gpt2-tiny-supertuning", 44)
    make_supertuning("gpt2-tiny-supra", 45, r=4, lora_alpha=6.0)
    make_glora(46)
    make_glora_blocks(47)


if __name__ == "__main__":
    main()

"""Writes gpt2-tiny-{p_tuning,cartridge,cpt}/: prompt-learning adapters of PEFT part 2 for gpt2-tiny in Hugging Face
PEFT's file layout, and what PyTorch computes with them (PEFT's math in plain PyTorch, no peft package).
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_prompt_learning_golden.py

Every folder holds adapter_config.json and adapter_model.safetensors as PEFT's save_pretrained writes them, and
golden.safetensors (make_gpt2_lora_golden.finish: logits of the real tokens, loss, grad.<key> of the tensors the
engine trains when it loads the folder for training, logits after one AdamW step). Besides:
  gpt2-tiny-p_tuning/encoder.safetensors: PEFT's PromptEncoder (peft/tuners/p_tuning/model.py) for the MLP and the
    LSTM type, <type>.<state dict key> (embedding.weight, mlp_head.*, lstm_head.*), <type>.prompt (its output, what
    get_prompt_embedding_to_save writes) and <type>.grad.<key> (the next-token loss's gradient through the encoder).
"""
import json, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import ADAMW, HERE, finish, gpt2_forward, next_token_loss, prompt_config, read_safetensors

C = CONFIG["n_embd"]


def base_model(seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def prompt_logits(model, prompt, ids):
    """PeftModelForCausalLM.forward for prompt-style methods: inputs_embeds = [P; wte(ids)], positions over both;
    the logits of the real tokens (the last T)."""
    n = prompt.size(0)
    x = torch.cat([prompt.unsqueeze(0).expand(ids.size(0), -1, -1), model.transformer.wte(ids)], dim=1)
    return gpt2_forward(model, x, torch.arange(n + ids.size(1)))[:, n:]


class PromptEncoder(torch.nn.Module):
    """PEFT's PromptEncoder while training (inference_mode=False), with its attribute names."""

    def __init__(self, kind, n, d, h, layers, dropout):
        super().__init__()
        self.kind = kind
        self.embedding = torch.nn.Embedding(n, d)
        if kind == "LSTM":
            self.lstm_head = torch.nn.LSTM(d, h, num_layers=layers, dropout=dropout, bidirectional=True, batch_first=True)
            self.mlp_head = torch.nn.Sequential(torch.nn.Linear(2 * h, 2 * h), torch.nn.ReLU(), torch.nn.Linear(2 * h, d))
        else:
            self.mlp_head = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, h), torch.nn.ReLU(),
                                                torch.nn.Linear(h, d))

    def forward(self, indices):
        x = self.embedding(indices)
        if self.kind == "LSTM":
            x = self.lstm_head(x)[0]
        return self.mlp_head(x)


def make_p_tuning(seed):
    n, h = 4, 16
    model = base_model(seed)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    encoder_golden = {}
    prompts = {}
    for kind in ("MLP", "LSTM"):
        encoder = PromptEncoder(kind, n, C, h, 2, 0.0)
        prompt = encoder(torch.arange(n).unsqueeze(0))[0]  # get_prompt_embedding_to_save
        loss = next_token_loss(prompt_logits(model, prompt, ids), ids)
        loss.backward()
        for key, p in encoder.named_parameters():
            encoder_golden[f"{kind}.{key}"] = p.detach()
            encoder_golden[f"{kind}.grad.{key}"] = p.grad
        encoder_golden[f"{kind}.prompt"] = prompt.detach()
        encoder_golden[f"{kind}.loss"] = loss.detach()
        prompts[kind] = prompt.detach().clone()
    folder = os.path.join(HERE, "gpt2-tiny-p_tuning")
    os.makedirs(folder, exist_ok=True)
    encoder_golden["input_ids"] = ids
    write_safetensors(os.path.join(folder, "encoder.safetensors"), encoder_golden)
    # The folder: the LSTM encoder's output, as PEFT saves it; loaded, it is the prompt (no encoder).
    config = prompt_config("P_TUNING", n, encoder_reparameterization_type="LSTM", encoder_hidden_size=h,
                           encoder_num_layers=2, encoder_dropout=0.0)
    tensors = {"prompt_embeddings": prompts["LSTM"]}
    finish("gpt2-tiny-p_tuning", config, tensors, list(tensors), lambda x: prompt_logits(model, tensors["prompt_embeddings"], x), ids)


def write_folder(folder, config, file_tensors, leaves, run, ids, after_step=None):
    """As make_gpt2_lora_golden.finish when what PEFT trains (leaves, under the engine's keys) is not what the file
    holds (file_tensors): run(ids) reads the leaves; after_step(leaves) applies what PEFT does before the next forward."""
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), file_tensors)
    with torch.no_grad():
        logits = run(ids)
    golden = {"input_ids": ids, "logits": logits}
    for p in leaves.values():
        p.requires_grad_(True)
    loss = next_token_loss(run(ids), ids)
    loss.backward()
    golden["loss"] = loss.detach()
    golden.update({f"grad.{k}": p.grad.clone() for k, p in leaves.items()})
    torch.optim.AdamW(list(leaves.values()), **ADAMW).step()
    if after_step is not None:
        after_step(leaves)
    with torch.no_grad():
        golden["logits_after_step"] = run(ids)
    write_safetensors(os.path.join(out, "golden.safetensors"), golden)
    print(f"wrote {out}: loss {loss.item():.6f}, after one step {next_token_loss(golden['logits_after_step'], ids).item():.6f}")
    return golden


def prefix_logits(model, table, ids):
    """Prefix tuning's past_key_values from a table [n, L*2*C] (make_gpt2_lora_golden.make_prefix)."""
    n, L, H = table.size(0), CONFIG["n_layer"], CONFIG["n_head"]
    b = ids.size(0)
    kv = table.unsqueeze(0).expand(b, -1, -1).reshape(b, n, L * 2, H, C // H).permute(2, 0, 3, 1, 4)
    past = [(kv[2 * i], kv[2 * i + 1]) for i in range(L)]
    return gpt2_forward(model, model.transformer.wte(ids), torch.arange(n, n + ids.size(1)), past)


def make_cartridge(seed):
    """CartridgeEncoder: frozen rows [f, L*2*C] then trainable rows, served as prefix tuning's past_key_values; the
    file holds their concatenation. The engine trains the trainable rows, held under prompt_embeddings."""
    n, f, L = 4, 1, CONFIG["n_layer"]
    config = prompt_config("CARTRIDGE", n, num_frozen_tokens=f)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    frozen = 0.5 * torch.randn(f, L * 2 * C, generator=g)
    trainable = 0.5 * torch.randn(n - f, L * 2 * C, generator=g)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    leaves = {"prompt_embeddings": trainable}
    write_folder("gpt2-tiny-cartridge", config, {"prompt_embeddings": torch.cat([frozen, trainable])}, leaves,
                 lambda x: prefix_logits(model, torch.cat([frozen, leaves["prompt_embeddings"]]), x), ids)


CPT_IDS = [5, 17, 3, 40, 9, 22, 31, 8]
CPT_TYPES = [1, 2, 3, 4, 5, 6, 7, 8]


def cpt_epsilon(config):
    """CPTEmbedding.get_epsilon, in float32."""
    types = torch.tensor(config["cpt_tokens_type_mask"]).long()
    scale = torch.sqrt(torch.Tensor([config["token_dim"] / 2048]))
    eps = torch.ones(len(types), dtype=torch.float32) * 1e-10
    fmt, inp = config["opt_projection_format_epsilon"] * scale, config["opt_projection_epsilon"] * scale
    eps[(types > 0) & (types % 4 == 1)] = fmt
    eps[(types > 0) & (types % 4 == 3)] = fmt
    eps[(types > 0) & (types % 4 == 2)] = inp
    return eps


def cpt_project(delta, eps):
    """CPTEmbedding.get_projection, in place."""
    with torch.no_grad():
        w = delta.clone()
        norm = torch.norm(w, p=2, dim=1)
        m = norm > 0
        if torch.any(m):
            w[m] *= (eps[m] / norm[m].clamp(min=eps[m])).view(-1, 1)
        delta.copy_(w)


def cpt_loss(logits, labels, type_mask, config):
    """CPTEmbedding.calculate_loss."""
    shift_logits, shift_labels, shift_types = logits[..., :-1, :], labels[..., 1:], type_mask[..., 1:]
    kept = shift_labels != -100
    b, t, v = shift_logits.shape
    loss = torch.nn.functional.cross_entropy(shift_logits.reshape(b * t, v), shift_labels.reshape(b * t),
                                             reduction="none", ignore_index=-100).view(b, t)
    weights = kept.float()
    for i in range(b):
        idx = (shift_types[i] > 0) & (shift_types[i] % 4 == 0)
        decay = torch.ones_like(shift_types[i]).float()
        value = 1
        for label_type in torch.flip(shift_types[i][idx].unique(), [0]):
            decay[shift_types[i] == label_type] = value
            value *= config["opt_loss_decay_factor"]
        if config["opt_weighted_loss_type"] == "decay":
            weights[i] *= decay
    return (loss[kept] * weights[kept]).mean()


def make_cpt(seed):
    """CPT: prompt = wte(cpt_token_ids) + delta, delta projected onto its epsilon-balls before every forward, its
    gradient kept on types 1-3. The file holds the prompt; loaded, it is the frozen embedding and the engine trains a
    zero delta (grad.delta_embedding: the masked gradient). loss.safetensors: CPT's own loss with labels and input types
    (PeftModelForCausalLM._cpt_forward), its value and the delta's gradient, on the loaded adapter."""
    n = len(CPT_IDS)
    config = prompt_config("CPT", n, cpt_token_ids=CPT_IDS, cpt_mask=[1] * n, cpt_tokens_type_mask=CPT_TYPES,
                           opt_weighted_loss_type="decay", opt_loss_decay_factor=0.5, opt_projection_epsilon=0.2,
                           opt_projection_format_epsilon=0.1, tokenizer_name_or_path=None)
    model = base_model(seed)
    eps = cpt_epsilon(config)
    types = torch.tensor(CPT_TYPES)
    grad_mask = ((types % 4 == 1) | (types % 4 == 2) | (types % 4 == 3)).float().view(-1, 1)
    g = torch.Generator().manual_seed(seed + 100)
    trained = torch.randn(n, C, generator=g) * grad_mask  # a trained-looking delta: label rows never move
    cpt_project(trained, eps)
    prompt = model.transformer.wte.weight[CPT_IDS].detach() + trained
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    delta = torch.zeros(n, C)
    leaves = {"delta_embedding": delta}

    def current_prompt():
        cpt_project(leaves["delta_embedding"], eps)
        d = leaves["delta_embedding"]
        if d.requires_grad:
            d.register_hook(lambda grad: grad * grad_mask) if not hasattr(d, "_masked") else None
            d._masked = True
        return prompt + d

    write_folder("gpt2-tiny-cpt", config, {"prompt_embeddings": prompt}, leaves,
                 lambda x: prompt_logits(model, current_prompt(), x), ids, after_step=lambda l: cpt_project(l["delta_embedding"], eps))

    # CPT's loss on the loaded adapter (a fresh zero delta), with labels and input types.
    delta = torch.zeros(n, C, requires_grad=True)
    delta.register_hook(lambda grad: grad * grad_mask)
    full_prompt = prompt + delta
    x = torch.cat([full_prompt.unsqueeze(0).expand(BATCH, -1, -1), model.transformer.wte(ids)], dim=1)
    logits = gpt2_forward(model, x, torch.arange(n + TIME))
    labels = ids.clone()
    labels[0, 3] = -100
    input_types = torch.tensor([[1] * 5 + [2] * 5 + [3] * 2 + [4] * 4, [1] * 4 + [2] * 6 + [3] * 3 + [4] * 3])
    prefix_types = types.view(1, -1).repeat(BATCH, 1)
    adjusted = input_types.clone()
    adjusted[adjusted > 0] += prefix_types.max()
    type_mask = torch.cat([prefix_types, adjusted], dim=1)
    cpt_labels = torch.cat([torch.tensor(CPT_IDS).view(1, -1).repeat(BATCH, 1), labels], dim=1)
    cpt_labels[~((type_mask > 0) & (type_mask % 4 == 0))] = -100
    loss = cpt_loss(logits, cpt_labels, type_mask, config)
    loss.backward()
    write_safetensors(os.path.join(HERE, "gpt2-tiny-cpt", "loss.safetensors"),
                      {"input_ids": ids, "labels": labels, "input_type_mask": input_types, "logits": logits.detach(),
                       "loss": loss.detach(), "grad.delta_embedding": delta.grad})
    print(f"  CPT loss {loss.item():.6f}")


def main():
    make_p_tuning(61)
    make_cartridge(62)
    make_cpt(63)


if __name__ == "__main__":
    main()

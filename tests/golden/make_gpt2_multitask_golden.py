"""Writes gpt2-tiny-poly/ and gpt2-tiny-multitask-prompt/: task-routed adapters for gpt2-tiny in Hugging Face PEFT's
file layout, the adapter math written in plain PyTorch (no peft package), with the golden.safetensors contents of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step) plus task_ids [BATCH] (int64), the task of each
example (PEFT's task_ids argument), which the engine's check holds in a TaskIds scope.
Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_multitask_golden.py

Poly (PEFT's poly/layer.py and router.py at 5d602fd): PEFT wraps only nn.Linear, so its files for GPT-2 adapt lm_head
(and, lm_head being one of PEFT's EMBEDDING_LAYER_NAMES, also save base_model.model.lm_head.base_layer.weight = wte).
Keys poly_lora_A [q, s, in/q, r], poly_lora_B [q, s, r, out/q], poly_router.module_logits [n_tasks, q*s]. In evaluation
mode (model.eval(), the golden's mode: deterministic) the router's weights are w = sigmoid(l_t) / (sum_skills + 1e-12)
per split; A_b = einsum(w, A) reshaped [in, r], B_b = einsum(w, B) transposed to [r, q, out/q] and reshaped [r, out];
y = base(x) + x A_b B_b / r.
Multitask prompt tuning (PEFT's multitask_prompt_tuning/model.py): prompt_embeddings P [n, d], prefix_task_cols
[T, n, R], prefix_task_rows [T, R, d] (keys without prefix); the prompt of an example of task t is P * (cols_t @ rows_t),
prepended to the token embeddings as prompt tuning's (positions over both; the golden logits are the real tokens').
"""
import os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, finish, read_safetensors, prompt_config, gpt2_forward


def base_model(seed):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    return model


def add_task_ids(folder, task_ids):
    path = os.path.join(HERE, folder, "golden.safetensors")
    golden = read_safetensors(path)
    golden["task_ids"] = task_ids
    write_safetensors(path, golden)


def make_poly(seed):
    r, q, s, n_tasks = 2, 2, 3, 2
    config = {"peft_type": "POLY", "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "r": r, "target_modules": ["lm_head"], "exclude_modules": None,
              "modules_to_save": None, "init_weights": True, "poly_type": "poly", "n_tasks": n_tasks, "n_skills": s, "n_splits": q}
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    out_f, in_f = head.weight.shape
    k = "base_model.model.lm_head"
    # Trained-looking values: B non-zero (PEFT starts it at zero), router logits well away from their U(+-1e-3) start.
    tensors = {k + ".poly_lora_A": 0.4 * torch.randn(q, s, in_f // q, r, generator=g),
               k + ".poly_lora_B": 0.4 * torch.randn(q, s, r, out_f // q, generator=g),
               k + ".poly_router.module_logits": torch.randn(n_tasks, q * s, generator=g)}
    trainable = list(tensors)
    tensors[k + ".base_layer.weight"] = head.weight.detach().clone()
    task_ids = torch.tensor([1, 0], dtype=torch.int64)
    assert task_ids.numel() == BATCH

    def poly(x):
        logits = tensors[k + ".poly_router.module_logits"][task_ids].view(-1, q, s)
        v = torch.sigmoid(logits)
        w = v / (v.sum(dim=-1, keepdim=True) + 1e-12)
        bs = w.size(0)
        a = torch.einsum("bqs,qsdr->bqdr", w, tensors[k + ".poly_lora_A"]).reshape(bs, in_f, r)
        b = torch.einsum("bqs,qsrd->bqrd", w, tensors[k + ".poly_lora_B"]).transpose(1, 2).reshape(bs, r, out_f)
        return x @ head.weight.T + x.bmm(a).bmm(b) / r
    head.forward = poly
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish("gpt2-tiny-poly", config, tensors, trainable, model, ids)
    add_task_ids("gpt2-tiny-poly", task_ids)


def make_multitask_prompt(seed):
    n, tasks, ranks, d = 4, 2, 2, CONFIG["n_embd"]
    config = prompt_config("MULTITASK_PROMPT_TUNING", n, prompt_tuning_init="RANDOM", prompt_tuning_init_text=None,
                           tokenizer_name_or_path=None, tokenizer_kwargs=None, prompt_tuning_init_state_dict_path=None,
                           prompt_tuning_init_task=0, num_ranks=ranks, num_tasks=tasks)
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {"prompt_embeddings": 0.5 * torch.randn(n, d, generator=g),
               "prefix_task_cols": 1.5 * torch.randn(tasks, n, ranks, generator=g),
               "prefix_task_rows": 1.5 * torch.randn(tasks, ranks, d, generator=g)}
    task_ids = torch.tensor([1, 0], dtype=torch.int64)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))

    def run(ids):
        p = tensors["prompt_embeddings"].unsqueeze(0).expand(ids.size(0), -1, -1)
        cols = torch.index_select(tensors["prefix_task_cols"], 0, task_ids)
        rows = torch.index_select(tensors["prefix_task_rows"], 0, task_ids)
        x = torch.cat([p * torch.matmul(cols, rows), model.transformer.wte(ids)], dim=1)
        return gpt2_forward(model, x, torch.arange(n + ids.size(1)))[:, n:]
    for p in model.parameters():
        p.requires_grad_(False)
    finish("gpt2-tiny-multitask-prompt", config, tensors, list(tensors), run, ids)
    add_task_ids("gpt2-tiny-multitask-prompt", task_ids)


def main():
    make_poly(61)
    make_multitask_prompt(62)


if __name__ == "__main__":
    main()

"""Writes gpt2-tiny-polyhistor-lite/: a Polyhistor-Lite adapter (Liu et al., NeurIPS 2022, arXiv:2210.03265; no public
code: THE ENGINE'S READING, docs/adapters.md "Seed methods (issue 18)", src/Peft/Multitask/PolyhistorConfig.cs) on
gpt2-tiny's sub-layer outputs (attn.c_proj, mlp.c_proj) in PEFT's file layout with the engine's peft_type
"POLYHISTOR", the math in plain PyTorch (no peft package), with the golden.safetensors contents of
make_gpt2_lora_golden.py plus task_ids [BATCH] (each example's task). Run after make_gpt2_golden.py, with Debian's
python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_polyhistor_golden.py

Shared: task embeddings E [n_tasks, e] (base_model.polyhistor_task_embedding) and four linear hypernetworks H [out, 2e]
(base_model.polyhistor_down_left [m*k], _down_right [k*d_t], _up_left [d_t*k], _up_right [k*m]). Per adapted module l
(index among the targets in model order): layer embedding z_l [e] and scaling kernels S_down [1, d/d_t], S_up [d/d_t, 1].
For task t: c = [E[t]; z_l]; T_down = (H_dl c).view(m, k) @ (H_dr c).view(k, d_t); T_up = (H_ul c).view(d_t, k) @
(H_ur c).view(k, m); W_down = kron(S_down, T_down) [m, d]; W_up = kron(S_up, T_up) [d, m]; y = h + gelu(h W_down^T / sqrt(d))
W_up^T / sqrt(m) with h the module output. Everything trains; the saved tensors are random (trained-looking), W_up non-zero.
"""
import torch
from make_gpt2_lora_golden import make_other
from make_gpt2_multitask_golden import add_task_ids

M, K, E, DT, N_TASKS = 4, 2, 3, 8, 2
TASK_IDS = torch.tensor([1, 0], dtype=torch.int64)


def main():
    config = {"peft_type": "POLYHISTOR", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
              "inference_mode": True, "target_modules": ["attn.c_proj", "mlp.c_proj"], "exclude_modules": None,
              "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None, "bottleneck_size": M,
              "hyper_rank": K, "embedding_dim": E, "template_size": DT, "n_tasks": N_TASKS, "activation": "gelu",
              "init_weights": True}
    g = torch.Generator().manual_seed(191)
    shared = {"polyhistor_task_embedding": torch.randn(N_TASKS, E, generator=g),
              "polyhistor_down_left": 0.5 * torch.randn(M * K, 2 * E, generator=g),
              "polyhistor_down_right": 0.5 * torch.randn(K * DT, 2 * E, generator=g),
              "polyhistor_up_left": 0.5 * torch.randn(DT * K, 2 * E, generator=g),
              "polyhistor_up_right": 0.5 * torch.randn(K * M, 2 * E, generator=g)}
    tensors = {"base_model." + n: t for n, t in shared.items()}
    trainable = list(tensors)  # filled in by layer_forward, which make_other calls before training

    def layer_forward(path, conv):
        if not (path.endswith("attn.c_proj") or path.endswith("mlp.c_proj")):
            return None
        d = conv.weight.shape[1]
        q = d // DT
        key = f"base_model.model.{path}."
        tensors[key + "polyhistor_layer_embedding"] = torch.randn(E, generator=g)
        tensors[key + "polyhistor_scale_down"] = 1 + 0.3 * torch.randn(1, q, generator=g)
        tensors[key + "polyhistor_scale_up"] = 1 + 0.3 * torch.randn(q, 1, generator=g)
        trainable.extend(key + n for n in ["polyhistor_layer_embedding", "polyhistor_scale_down", "polyhistor_scale_up"])
        weight, bias = conv.weight.detach(), conv.bias.detach()

        def forward(x):
            t = lambda n: tensors["base_model." + n]
            rows = []
            for b in range(x.shape[0]):
                c = torch.cat([t("polyhistor_task_embedding")[TASK_IDS[b]], tensors[key + "polyhistor_layer_embedding"]])
                t_down = (t("polyhistor_down_left") @ c).view(M, K) @ (t("polyhistor_down_right") @ c).view(K, DT)
                t_up = (t("polyhistor_up_left") @ c).view(DT, K) @ (t("polyhistor_up_right") @ c).view(K, M)
                w_down = torch.kron(tensors[key + "polyhistor_scale_down"], t_down)
                w_up = torch.kron(tensors[key + "polyhistor_scale_up"], t_up)
                h = x[b] @ weight + bias
                z = torch.nn.functional.gelu(h @ w_down.T / d ** 0.5)
                rows.append(h + z @ w_up.T / M ** 0.5)
            return torch.stack(rows)
        return forward

    make_other("gpt2-tiny-polyhistor-lite", config, tensors, layer_forward, 192, trainable=trainable)
    add_task_ids("gpt2-tiny-polyhistor-lite", TASK_IDS)


if __name__ == "__main__":
    main()

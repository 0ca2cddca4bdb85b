"""Writes gpt2-tiny-kind/: a KIND adapter (arXiv 2408.07337; no public code, the engine's reading of spec
adapters-lowrank.md section 13) on gpt2-tiny's c_attn layers in PEFT's file layout with the engine's peft_type "KIND",
the math in plain PyTorch (no peft package), with the golden.safetensors contents of make_gpt2_lora_golden.py (logits,
loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_kind_golden.py

KIND per targeted weight W0 [out, in] (GPT-2's Conv1D holds W0^T): the top n_G + n_classes * n_tailors singular
triplets of W0 (torch.linalg.svd in float64) leave the base, which keeps W_res = W0 - U_k diag(S_k) V_k^T (not saved: it
does not depend on the SVD's signs, so the engine recomputes it from W0). Keys kind_learngene_U [out, n_G],
kind_learngene_S [n_G], kind_learngene_Vh [n_G, in], kind_tailor_U [out, n_T], kind_tailor_S [n_T],
kind_tailor_Vh [n_T, in] (trained) and kind_gates [n_classes, n_T] (class c owns tailors c*n_tailors..; not trained).
Every example has class default_task_id = 1: W_1 = W_res + U_G diag(S_G) V_G^T + U_T diag(g_1 * S_T) V_T^T.
The saved factors are the SVD's moved by noise (trained-looking).
"""
import torch
from make_gpt2_lora_golden import make_other

N_G, N_TAILORS, N_CLASSES, CLASS = 3, 2, 2, 1


def main():
    config = {"peft_type": "KIND", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
              "inference_mode": True, "target_modules": ["c_attn"], "exclude_modules": None, "layers_to_transform": None,
              "layers_pattern": None, "modules_to_save": None, "n_learngenes": N_G, "n_tailors": N_TAILORS,
              "n_classes": N_CLASSES, "default_task_id": CLASS}
    g = torch.Generator().manual_seed(171)
    n_t = N_CLASSES * N_TAILORS
    k = N_G + n_t
    gates = torch.zeros(N_CLASSES, n_t)
    for c in range(N_CLASSES):
        gates[c, c * N_TAILORS:(c + 1) * N_TAILORS] = 1
    tensors, trainable = {}, []

    def layer_forward(path, conv):
        if not path.endswith("attn.c_attn"):
            return None
        w0 = conv.weight.detach().T.to(torch.float64)  # [out, in]
        u, s, vt = torch.linalg.svd(w0, full_matrices=False)
        residual = (w0 - u[:, :k] @ torch.diag(s[:k]) @ vt[:k]).to(torch.float32)
        key = f"base_model.model.{path}."
        parts = {"kind_learngene_U": u[:, :N_G] + 0.2 * torch.randn(u.shape[0], N_G, generator=g, dtype=torch.float64),
                 "kind_learngene_S": s[:N_G] * (1 + 0.3 * torch.rand(N_G, generator=g, dtype=torch.float64)),
                 "kind_learngene_Vh": vt[:N_G] + 0.2 * torch.randn(N_G, vt.shape[1], generator=g, dtype=torch.float64),
                 "kind_tailor_U": u[:, N_G:k] + 0.2 * torch.randn(u.shape[0], n_t, generator=g, dtype=torch.float64),
                 "kind_tailor_S": s[N_G:k] * (1 + 0.3 * torch.rand(n_t, generator=g, dtype=torch.float64)),
                 "kind_tailor_Vh": vt[N_G:k] + 0.2 * torch.randn(n_t, vt.shape[1], generator=g, dtype=torch.float64)}
        for name, t in parts.items():
            tensors[key + name] = t.to(torch.float32).contiguous()
            trainable.append(key + name)
        tensors[key + "kind_gates"] = gates.clone()
        bias = conv.bias.detach()

        def forward(x):
            t = {name: tensors[key + name] for name in parts}
            w = residual + (t["kind_learngene_U"] * t["kind_learngene_S"]) @ t["kind_learngene_Vh"] \
                + (t["kind_tailor_U"] * (gates[CLASS] * t["kind_tailor_S"])) @ t["kind_tailor_Vh"]
            return x @ w.T + bias
        return forward

    make_other("gpt2-tiny-kind", config, tensors, layer_forward, 172, trainable=trainable)


if __name__ == "__main__":
    main()

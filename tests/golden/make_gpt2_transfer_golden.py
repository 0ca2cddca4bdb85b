"""Writes gpt2-tiny-scalearn/ and gpt2-tiny-scalearn-uniform-plusplus/: ScaLearn adapters (Frohmann et al. 2023,
arXiv:2310.01217; CPJKU/ScaLearn adapter-transformers/src/transformers/adapters/modeling.py::ScaLearn,
ScaLearnPlusPlus, layer.py::scalearn) on gpt2-tiny's feed-forward outputs (mlp.c_proj) in PEFT's file layout with the
engine's peft_type "SCALEARN", the math in plain PyTorch (no peft package), with the golden.safetensors contents of
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's
python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_transfer_golden.py

Per targeted module with output h = x W + b (GPT-2's Conv1D), K = 2 frozen source bottleneck adapters k (the engine's
BOTTLENECK tensors, copied into the ScaLearn file under scalearn_sources.<k>.adapter_down.weight [m_k, d], .bias [m_k],
adapter_up.weight [d, m_k], .bias [d]; widths 3 and 5) give a_k = gelu(h Wd_k^T + bd_k) Wu_k^T + bu_k (the reference's
`up`), and y = sum_k omega_k * a_k + h (ScaLearn.forward with residual; dropout_ratio 0 here). omega is
scalearn_omega [K, d] per layer (omega_shape "vector"), or, for the Uniform++ variant, ONE base_model.scalearn_omega
[K, 1] shared by every layer (per_layer, the reference's init_shared_parameters_scalearn). Only omega trains; the
saved omega is moved off its start N(2/K, 0.001^2) (trained-looking).
"""
import torch
from make_gpt2_lora_golden import make_other

SIZES = [3, 5]


def config_for(omega_shape, per_layer):
    return {"peft_type": "SCALEARN", "task_type": "CAUSAL_LM", "base_model_name_or_path": "gpt2-tiny", "revision": None,
            "inference_mode": True, "target_modules": ["mlp.c_proj"], "exclude_modules": None,
            "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None,
            "omega_shape": omega_shape, "omega_init_type": "avg", "omega_init_scale": 2.0, "dropout_ratio": 0.0,
            "per_layer": per_layer, "residual": True, "activation": "gelu", "adapters": ["sources/a", "sources/b"],
            "source_bottleneck_sizes": SIZES}


def make(folder, omega_shape, per_layer, seed):
    g = torch.Generator().manual_seed(seed)
    k_count = len(SIZES)
    tensors, trainable = {}, []
    shared = None
    if per_layer:
        cols = 1
        shared = "base_model.scalearn_omega"
        tensors[shared] = 1.0 + 0.4 * torch.randn(k_count, cols, generator=g)
        trainable.append(shared)

    def layer_forward(path, conv):
        if not path.endswith("mlp.c_proj"):
            return None
        d = conv.weight.shape[1]
        key = f"base_model.model.{path}."
        for k, m in enumerate(SIZES):
            tensors[key + f"scalearn_sources.{k}.adapter_down.weight"] = torch.randn(m, d, generator=g) / d ** 0.5
            tensors[key + f"scalearn_sources.{k}.adapter_down.bias"] = 0.1 * torch.randn(m, generator=g)
            tensors[key + f"scalearn_sources.{k}.adapter_up.weight"] = torch.randn(d, m, generator=g) / m ** 0.5
            tensors[key + f"scalearn_sources.{k}.adapter_up.bias"] = 0.1 * torch.randn(d, generator=g)
        omega_key = shared
        if not per_layer:
            omega_key = key + "scalearn_omega"
            cols = d if omega_shape == "vector" else 1
            tensors[omega_key] = 1.0 + 0.4 * torch.randn(k_count, cols, generator=g)
            trainable.append(omega_key)
        weight, bias = conv.weight.detach(), conv.bias.detach()

        def forward(x):
            h = x @ weight + bias
            ups = []
            for k in range(k_count):
                s = key + f"scalearn_sources.{k}."
                down = torch.nn.functional.gelu(h @ tensors[s + "adapter_down.weight"].T + tensors[s + "adapter_down.bias"])
                ups.append(down @ tensors[s + "adapter_up.weight"].T + tensors[s + "adapter_up.bias"])
            # The reference stacks the ups to [B, T, K, d] and sums omega * up over K, then adds the residual.
            up_list = torch.stack(ups).permute(1, 2, 0, 3)
            return torch.sum(tensors[omega_key] * up_list, dim=2) + h
        return forward

    make_other(folder, config_for(omega_shape, per_layer), tensors, layer_forward, seed + 1, trainable=trainable)


def main():
    make("gpt2-tiny-scalearn", "vector", False, 181)
    make("gpt2-tiny-scalearn-uniform-plusplus", "scalar", True, 183)


if __name__ == "__main__":
    main()

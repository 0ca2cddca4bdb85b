"""Writes gpt2-tiny-waveft-sym4/ and gpt2-tiny-waveft-coif2-proportional/: WaveFT adapters with wavelets other than
db1, in Hugging Face PEFT's file layout, with the golden.safetensors contents of make_gpt2_lora_golden.py (logits,
loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's python3-torch and python3-pywt:
    cd tests/golden && /usr/bin/python3 make_gpt2_wavelet_golden.py

The update follows PEFT's waveft/layer.py get_delta_weight (5d602fd): the [out, in] grid grows by the wavelet's
reduction L - 2 (PEFT's WAVELET_REDUCTIONS), rounds up to even sides, holds the coefficients at their randperm positions
shifted by (padded - size) // 2, is split into quadrants cA | cH / cV | cD, reconstructed by one inverse 2-D DWT and
cropped to [out, in] about its centre; dW = scaling * that. The inverse transform here is PyWavelets' idwt2 (an oracle
independent of PEFT's and the engine's code): dW is linear in the coefficients, so it is written as the sum of
coefficient times the idwt2 image of that coefficient alone, which keeps the gradient exact.
proportional_parameters (waveft/model.py): n_l = max(1, round(n_frequency * targets * in_l out_l / sum in out)).
"""
import numpy as np
import pywt
import torch
from make_gpt2_spectral_golden import make, positions, spectral_config


def basis(out_f, in_f, n, config):
    """[n, out, in]: the cropped reconstruction of each coefficient alone, scaled."""
    family = config["wavelet_family"]
    reduction = pywt.Wavelet(family).rec_len - 2
    pr, pc = out_f + reduction, in_f + reduction
    pr, pc = pr + pr % 2, pc + pc % 2
    top, left = (pr - out_f) // 2, (pc - in_f) // 2
    rows, cols = positions(out_f, in_f, n, config["random_loc_seed"])
    images = np.zeros((n, out_f, in_f))
    for i in range(n):
        grid = np.zeros((pr, pc))
        grid[rows[i].item() + top, cols[i].item() + left] = 1.0
        h, w = pr // 2, pc // 2
        y = pywt.idwt2((grid[:h, :w], (grid[:h, w:], grid[h:, :w], grid[h:, w:])), family, mode="zero")
        r0, c0 = (y.shape[0] - out_f) // 2, (y.shape[1] - in_f) // 2
        images[i] = y[r0:r0 + out_f, c0:c0 + in_f]
    return torch.tensor(images * config["scaling"], dtype=torch.float32)


def proportional(config, shapes):
    total = sum(o * i for o, i in shapes.values())
    budget = config["n_frequency"] * len(shapes)
    return {path: max(1, round(o * i / total * budget)) for path, (o, i) in shapes.items()}


def tensors_and_delta(config, shapes):
    counts = proportional(config, shapes) if config["proportional_parameters"] else None
    bases = {}

    def count(path):
        if counts is not None:
            return counts[path]
        for key, n in config["n_frequency_pattern"].items():
            if path.endswith(key):
                return n
        return config["n_frequency"]

    def make_tensors(cfg, path, out_f, in_f, g):
        n = count(path)
        bases[path] = basis(out_f, in_f, n, cfg)
        return {f"base_model.model.{path}.waveft_spectrum": 0.2 * torch.randn(n, generator=g)}

    def delta(cfg, path, out_f, in_f, t, x):
        c = t[f"base_model.model.{path}.waveft_spectrum"]
        return x @ torch.einsum("n,noi->oi", c, bases[path]).T

    return make_tensors, delta


def main():
    conv = ["attn.c_attn", "mlp.c_fc"]
    # gpt2-tiny: c_attn is [out 96, in 32], mlp.c_fc [out 128, in 32].
    shapes = {f"transformer.h.{i}.{name}": (96 if name == "attn.c_attn" else 128, 32) for i in range(2) for name in conv}
    config = spectral_config("WAVEFT", n_frequency=90, scaling=4.0, wavelet_family="sym4", n_frequency_pattern={"c_attn": 150})
    make("gpt2-tiny-waveft-sym4", config, *tensors_and_delta(config, shapes), conv, 51)
    config = spectral_config("WAVEFT", n_frequency=101, scaling=3.0, wavelet_family="coif2", proportional_parameters=True,
                             random_loc_seed=99)
    make("gpt2-tiny-waveft-coif2-proportional", config, *tensors_and_delta(config, shapes), conv, 52)


if __name__ == "__main__":
    main()

"""Writes gpt2-tiny-{fourierft,fourierft-pattern,waveft,waveft-random,c3a,shira}/ (PEFT-exact) and
gpt2-tiny-{c3a,shira}-blocks/ (engine extension): spectral adapters for gpt2-tiny in Hugging Face PEFT's file layout,
the adapter math written in plain PyTorch (no peft package), with the same golden.safetensors contents as
make_gpt2_lora_golden.py (logits, loss, grad.<key>, logits_after_step). Run after make_gpt2_golden.py, with Debian's
python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_spectral_golden.py

FourierFT and WaveFT (PEFT's fourierft/waveft layer.py) accept GPT-2's Conv1D (in, out = weight.shape), and save only
the coefficients (fourierft_spectrum / waveft_spectrum [n]); the positions are torch.randperm(out*in,
generator=torch.Generator().manual_seed(random_loc_seed))[:n] with (row, col) = (p // in, p % in), redrawn here with
torch's own generator, which the engine must reproduce.
  FourierFT: dW = scaling * ifft2(F).real, F [out, in] zero except the coefficients.
  WaveFT (db1, use_idwt): dW = scaling * Haar reconstruction of the grid split into quadrants cA | cH / cV | cD, written
    here as sum of torch.kron(quadrant, outer product of the db1 reconstruction filters); use_idwt false: scaling * F.
C3A and SHiRA wrap only nn.Linear: PEFT's files for GPT-2 adapt lm_head (and save lm_head.base_layer.weight).
  C3A: c3a_kernel [out/b, in/b, b]; y = base(x) + FFT circular convolution of x's blocks with the kernels / in (PEFT's
    BlockCircularConvolution).
  SHiRA: shira_weight [k], shira_indices int32 [2, k] (rows; cols), k = r (in + out), the random mask
    randperm(out*in, generator seeded random_seed)[:k] listed in row-major order; y = x (W + scatter(indices, weight))^T + b.
The -blocks folders adapt GPT-2's Conv1D c_attn and mlp.c_fc, which PEFT refuses for C3A and SHiRA: the engine's
extension with dW [out, in] and the same key names.
"""
import math, os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish, pattern_value
from make_gpt2_lycoris_golden import base_model


def config_of(peft_type, **fields):
    """PEFT's saved config fields (common ones first, then the method's)."""
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "target_modules": ["lm_head"], "exclude_modules": None,
              "layers_to_transform": None, "layers_pattern": None, "modules_to_save": None}
    config.update(fields)
    return config


def positions(out_f, in_f, n, seed):
    p = torch.randperm(out_f * in_f, generator=torch.Generator().manual_seed(seed))[:n]
    return p // in_f, p % in_f


def spectrum_n(config, path):
    return pattern_value(config["n_frequency_pattern"], path, config["n_frequency"])


def fourierft_tensors(config, path, out_f, in_f, g):
    return {f"base_model.model.{path}.fourierft_spectrum": torch.randn(spectrum_n(config, path), generator=g)}


def fourierft_delta(config, path, out_f, in_f, t):
    c = t[f"base_model.model.{path}.fourierft_spectrum"]
    rows, cols = positions(out_f, in_f, c.numel(), config["random_loc_seed"])
    dense = torch.zeros(out_f, in_f).index_put((rows, cols), c)
    return torch.fft.ifft2(dense).real * config["scaling"]


def waveft_tensors(config, path, out_f, in_f, g):
    return {f"base_model.model.{path}.waveft_spectrum": 0.2 * torch.randn(spectrum_n(config, path), generator=g)}


# db1 reconstruction filters (pywt: rec_lo = (1, 1)/sqrt 2, rec_hi = (1, -1)/sqrt 2).
LO = torch.tensor([1.0, 1.0]) / math.sqrt(2)
HI = torch.tensor([1.0, -1.0]) / math.sqrt(2)


def haar_inverse(grid):
    h, w = grid.shape[0] // 2, grid.shape[1] // 2
    ca, ch, cv, cd = grid[:h, :w], grid[:h, w:], grid[h:, :w], grid[h:, w:]
    # cH: detail along rows (hi on the row index), cV: detail along columns.
    return (torch.kron(ca, torch.outer(LO, LO)) + torch.kron(ch, torch.outer(HI, LO))
            + torch.kron(cv, torch.outer(LO, HI)) + torch.kron(cd, torch.outer(HI, HI)))


def waveft_delta(config, path, out_f, in_f, t):
    c = t[f"base_model.model.{path}.waveft_spectrum"]
    rows, cols = positions(out_f, in_f, c.numel(), config["random_loc_seed"])
    if not config["use_idwt"]:
        return torch.zeros(out_f, in_f).index_put((rows, cols), c) * config["scaling"]
    pr, pc = out_f + out_f % 2, in_f + in_f % 2
    grid = torch.zeros(pr, pc).index_put((rows, cols), c)
    return haar_inverse(grid)[:out_f, :in_f] * config["scaling"]


def c3a_tensors(config, path, out_f, in_f, g):
    b = pattern_value(config["block_size_pattern"], path, config["block_size"])
    return {f"base_model.model.{path}.c3a_kernel": torch.randn(out_f // b, in_f // b, b, generator=g)}


def c3a_forward(config, path, out_f, in_f, t, x):
    w = t[f"base_model.model.{path}.c3a_kernel"]
    m, n, b = w.shape
    xb = x.reshape(*x.shape[:-1], n, b)
    y = torch.fft.fft(torch.einsum("...nb,mnb->...mb", torch.fft.ifft(xb), torch.fft.fft(w))).real
    return y.reshape(*x.shape[:-1], m * b) / in_f


def shira_tensors(config, path, out_f, in_f, g):
    k = config["r"] * (in_f + out_f)
    gen = torch.Generator()
    if config["random_seed"] is not None:
        gen.manual_seed(config["random_seed"])
    idx = torch.randperm(out_f * in_f, generator=gen)[:k]
    mask = torch.zeros(out_f * in_f, dtype=torch.bool)
    mask[idx] = True
    rows, cols = torch.where(mask.view(out_f, in_f))
    key = f"base_model.model.{path}"
    return {key + ".shira_weight": 0.3 * torch.randn(k, generator=g), key + ".shira_indices": torch.stack([rows, cols]).to(torch.int32)}


def shira_delta(config, path, out_f, in_f, t):
    key = f"base_model.model.{path}"
    idx = t[key + ".shira_indices"].long()
    return torch.sparse_coo_tensor(idx, t[key + ".shira_weight"], (out_f, in_f)).to_dense()


def by_delta(delta):
    return lambda config, path, out_f, in_f, t, x: x @ delta(config, path, out_f, in_f, t).T


def make(folder, config, make_tensors, adapter, targets, seed):
    """targets: "head" (the tied lm_head, an nn.Linear, its base weight saved beside the adapter) or Conv1D names."""
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    tensors = {}
    if targets == "head":
        head = model.lm_head
        tensors.update(make_tensors(config, "lm_head", CONFIG["vocab_size"], CONFIG["n_embd"], g))
        head.forward = lambda x: x @ head.weight.T + adapter(config, "lm_head", CONFIG["vocab_size"], CONFIG["n_embd"], tensors, x)
    else:
        for i, block in enumerate(model.transformer.h):
            for name in targets:
                conv = block.get_submodule(name)
                path = f"transformer.h.{i}.{name}"
                in_f, out_f = conv.weight.shape
                tensors.update(make_tensors(config, path, out_f, in_f, g))
                conv.forward = lambda x, conv=conv, path=path, out_f=out_f, in_f=in_f: \
                    x @ conv.weight + conv.bias + adapter(config, path, out_f, in_f, tensors, x)
    trainable = [k for k in tensors if not k.endswith(".shira_indices")]
    if targets == "head":
        tensors["base_model.model.lm_head.base_layer.weight"] = model.lm_head.weight.detach().clone()
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def spectral_config(peft_type, **fields):
    config = config_of(peft_type, n_frequency=1000, scaling=150.0, random_loc_seed=777, fan_in_fan_out=True,
                       target_modules=["c_attn", "mlp.c_fc"], bias="none", n_frequency_pattern={}, init_weights=False)
    if peft_type == "WAVEFT":
        config.update(n_frequency=2592, scaling=25.0, wavelet_family="db1", use_idwt=True, proportional_parameters=False,
                      init_weights=True)
    config.update(fields)
    return config


def main():
    conv = ["attn.c_attn", "mlp.c_fc"]
    make("gpt2-tiny-fourierft", spectral_config("FOURIERFT", n_frequency=100, scaling=20.0),
         fourierft_tensors, by_delta(fourierft_delta), conv, 41)
    make("gpt2-tiny-fourierft-pattern", spectral_config("FOURIERFT", n_frequency=60, scaling=30.0, random_loc_seed=12345,
         n_frequency_pattern={r"h\.1\.mlp\.c_fc": 200}), fourierft_tensors, by_delta(fourierft_delta), conv, 42)
    make("gpt2-tiny-waveft", spectral_config("WAVEFT", n_frequency=150, scaling=5.0, n_frequency_pattern={"c_attn": 300}),
         waveft_tensors, by_delta(waveft_delta), conv, 43)
    make("gpt2-tiny-waveft-sparse", spectral_config("WAVEFT", n_frequency=120, scaling=5.0, use_idwt=False, random_loc_seed=5),
         waveft_tensors, by_delta(waveft_delta), conv, 44)
    c3a = dict(block_size=8, bias="none", block_size_pattern={}, init_weights="xavier_uniform")
    make("gpt2-tiny-c3a", config_of("C3A", **c3a), c3a_tensors, c3a_forward, "head", 45)
    make("gpt2-tiny-c3a-blocks", config_of("C3A", **dict(c3a, block_size=16, target_modules=["c_attn", "mlp.c_fc"],
         block_size_pattern={r"h\.0\.mlp\.c_fc": 32})), c3a_tensors, c3a_forward, conv, 46)
    shira = dict(r=2, mask_type="random", random_seed=7, fan_in_fan_out=False, init_weights=True)
    make("gpt2-tiny-shira", config_of("SHIRA", **shira), shira_tensors, by_delta(shira_delta), "head", 47)
    # random_seed null: PEFT's fresh torch.Generator() (seed 67280421310721).
    make("gpt2-tiny-shira-blocks", config_of("SHIRA", **dict(shira, r=1, random_seed=None, target_modules=["c_attn", "mlp.c_fc"])),
         shira_tensors, by_delta(shira_delta), conv, 48)


if __name__ == "__main__":
    main()

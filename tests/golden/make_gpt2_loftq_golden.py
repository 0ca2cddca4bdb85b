"""Writes gpt2-tiny-loftq/: a LoftQ LoRA adapter (Li et al. 2023, arXiv:2310.08659) for gpt2-tiny in Hugging Face
PEFT's file layout, with the same golden.safetensors contents as make_gpt2_lora_golden.py (logits, loss, grad.<key>,
logits_after_step), and loftq_init.safetensors, golden tensors of the quantiser and of the LoftQ initialisation on a
fixed weight. PEFT's math is written in plain PyTorch (no peft, bitsandbytes or scipy package). Run after
make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_loftq_golden.py

The quantiser is PEFT's NFQuantizer (src/peft/utils/loftq_utils.py before v0.20, 167fcb0f2^; PEFT 0.20 removed it and
quantises 4 bits with bitsandbytes' NF4, whose table equals the one below bit for bit, checked here):
  normal table (create_normal_map, asymmetric, offset 0.9677083): norm.ppf of torch.linspace(offset, 0.5, 2^b/2 + 1)
    without its last point, 0, and -norm.ppf of torch.linspace(offset, 0.5, 2^b/2) without its last point, as float32,
    sorted, divided by the largest. scipy's norm.ppf is torch.special.ndtri here, in float64 of the float32 points (the
    result is rounded to float32, as PEFT's torch.Tensor(v) does).
  uniform table (create_uniform_map, asymmetric): torch.linspace(-1, 1, 2^b).
  quantize_block: the weight flattened row-major in blocks of 64; the scale of a block is max |w| (normal) or
    mean + 2.5 std (uniform, unbiased std); code = argmin |w / scale - table| (the first index on ties); dequantised
    w = table[code] * scale, float32. (PEFT packs the codes into uint8; unpacking gives the same codes.)
LoftQ (PEFT's loftq_init at 5d602fd, the quantiser above in place of bitsandbytes): W in float32, res = W; for each of
  loftq_iter iterations Q = dequantize(quantize(res)), res = W - Q, U S Vh = svd(res), L = U[:, :r] sqrt(S_r),
  R = sqrt(S_r) Vh[:r]; before the next iteration res = W - L R. lora_A = R, lora_B = L (not divided by the LoRA
  scaling: Q + B A approximates W, and the layer starts at Q + s B A), and the base weight becomes Q.
loftq_init.safetensors: weight [40, 64]; table.{nf2,nf4,uniform4}; for q in nf2, nf4, uniform4: {q}.codes (I16, flat),
  {q}.scales [blocks], {q}.dequantized [40, 64]; for it in 1, 2, 4: loftq{it}.{A,B,Q} (4 bits, rank 4); loftq2bit.{A,B,Q}
  (2 bits, rank 4, one iteration).
gpt2-tiny-loftq/: PEFT's LoftQ wraps nn.Linear weights as stored; on GPT-2 that is lm_head (tied to wte), whose weight
  (and so the token embedding) becomes Q of the original, as PEFT's weight.data = qweight does on the shared parameter.
  r 4, lora_alpha 8 (s = 2), loftq_config {loftq_bits 4, loftq_iter 1}; lora_A / lora_B are the LoftQ factors plus
  noise ("trained"); save_pretrained also writes lm_head.base_layer.weight, which is Q.
"""
import os
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME, write_safetensors
from make_gpt2_lora_golden import HERE, base_config, finish
from make_gpt2_lycoris_golden import base_model

OFFSET = 0.9677083
BLOCK = 64
# bitsandbytes' NF4 code (functional.py, get_4bit_type("nf4")), the table PEFT >= 0.20 quantises 4 bits with.
BNB_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
           -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
           0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]


def normal_map(bits):
    variations = 2 ** bits
    v1 = torch.special.ndtri(torch.linspace(OFFSET, 0.5, variations // 2 + 1)[:-1].double()).tolist()
    v3 = (-torch.special.ndtri(torch.linspace(OFFSET, 0.5, variations // 2)[:-1].double())).tolist()
    values = torch.Tensor(v1 + [0] + v3).sort().values
    return values / values.max()


def uniform_map(bits):
    return torch.linspace(-1, 1, 2 ** bits)


def quantize_block(weight, table, method):
    blocks = weight.flatten().reshape(-1, BLOCK)
    if method == "normal":
        scale = blocks.abs().max(dim=-1)[0]
    else:
        scale = blocks.mean(dim=-1) + 2.5 * blocks.std(dim=-1)
    normed = (blocks / scale.unsqueeze(-1)).unsqueeze(-1)
    codes = torch.argmin(torch.abs(normed - table.reshape(1, -1)), dim=-1)
    return codes.flatten(), scale


def dequantize_block(codes, scale, table, shape):
    return (table[codes].reshape(-1, BLOCK) * scale.unsqueeze(-1)).reshape(shape)


def loftq_init(weight, bits, r, iters):
    table = normal_map(bits)
    w = weight.to(torch.float32)
    res = w.clone()
    for i in range(iters):
        codes, scale = quantize_block(res, table, "normal")
        q = dequantize_block(codes, scale, table, res.shape)
        res = w - q
        u, s, vh = torch.linalg.svd(res, full_matrices=False)
        lo = u @ torch.sqrt(torch.diag(s)[:, :r])
        ro = torch.sqrt(torch.diag(s)[:r, :]) @ vh
        if i + 1 == iters:
            break
        res = w - lo @ ro
    return q, ro, lo


def make_init_golden(out):
    g = torch.Generator().manual_seed(71)
    # A weight with a few strong directions and heavier tails, as trained layers have.
    weight = (torch.randn(40, 6, generator=g) @ torch.randn(6, 64, generator=g)) / 3 + 0.3 * torch.randn(40, 64, generator=g) ** 3
    golden = {"weight": weight}
    tables = {"nf2": normal_map(2), "nf4": normal_map(4), "uniform4": uniform_map(4)}
    assert torch.equal(tables["nf4"], torch.tensor(BNB_NF4)), "PEFT's NF4 table differs from bitsandbytes'"
    for name, table in tables.items():
        method = "uniform" if name.startswith("uniform") else "normal"
        codes, scale = quantize_block(weight, table, method)
        golden[f"table.{name}"] = table
        golden[f"{name}.codes"] = codes.to(torch.int16)
        golden[f"{name}.scales"] = scale
        golden[f"{name}.dequantized"] = dequantize_block(codes, scale, table, weight.shape)
    for iters in (1, 2, 4):
        q, a, b = loftq_init(weight, 4, 4, iters)
        golden.update({f"loftq{iters}.A": a, f"loftq{iters}.B": b, f"loftq{iters}.Q": q})
        print(f"loftq 4 bits, {iters} iteration(s): ||W - Q - BA||_F = {(weight - q - b @ a).norm().item():.6f}")
    q, a, b = loftq_init(weight, 2, 4, 1)
    golden.update({"loftq2bit.A": a, "loftq2bit.B": b, "loftq2bit.Q": q})
    print(f"plain NF4 error ||W - Q0||_F = {(weight - golden['nf4.dequantized']).norm().item():.6f}")
    write_safetensors(os.path.join(out, "loftq_init.safetensors"), golden)


def make_adapter(folder, seed):
    config = base_config(lora_alpha=8, target_modules=["lm_head"], fan_in_fan_out=False, init_lora_weights="loftq",
                         loftq_config={"loftq_bits": 4, "loftq_iter": 1})
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    r, s = config["r"], config["lora_alpha"] / config["r"]
    q, a, b = loftq_init(head.weight.detach(), config["loftq_config"]["loftq_bits"], r, config["loftq_config"]["loftq_iter"])
    with torch.no_grad():
        head.weight.copy_(q)  # the shared wte parameter: the embedding becomes Q too
    key = "base_model.model.lm_head"
    tensors = {key + ".lora_A.weight": a + 0.1 * torch.randn(a.shape, generator=g),
               key + ".lora_B.weight": b + 0.05 * torch.randn(b.shape, generator=g)}
    trainable = list(tensors)
    tensors[key + ".base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: x @ head.weight.T + (x @ tensors[key + ".lora_A.weight"].T) @ tensors[key + ".lora_B.weight"].T * s
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def main():
    make_adapter("gpt2-tiny-loftq", 81)
    make_init_golden(os.path.join(HERE, "gpt2-tiny-loftq"))


if __name__ == "__main__":
    main()

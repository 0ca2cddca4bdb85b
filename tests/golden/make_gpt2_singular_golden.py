"""Writes gpt2-tiny-{svfit,clip-svd,salt,loldu}/: the singular family of issue 17 (engine-specific peft_types SVFIT,
CLIP_SVD, SALT, LOLDU; not in Hugging Face PEFT) on gpt2-tiny's tied lm_head [vocab, n_embd], in the layout the engine
saves (keys base_model.model.lm_head.<tensor>, the base weight beside them as make_gpt2_rotation_golden.py does), with
the golden.safetensors contents of make_gpt2_lora_golden.py. The math is each method's own, written in plain PyTorch
from the reference code, with trained-looking (moved) tensors. Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_singular_golden.py

SVFit (arXiv 2409.05926, paper only; spec adapters-lowrank.md section 5): torch.linalg.svd(W); r = smallest with 99% of
  sum s^2; W' = (W - U_r diag(S_r) V_r^T) + U_r diag(sigma) V_r^T. Keys svfit_s (trained), svfit_U, svfit_S, svfit_Vh.
CLIP-SVD (HealthX-Lab/CLIP-SVD svf_utils/svf_torch.py): torch.svd(W); k' = round_to_nearest(k, 0.5, 4) = 16; SVD_Linear
  y = fc_U(vector_S * fc_V(x)), i.e. W' = U_k' diag(s) V_k'^T (the rest dropped). Keys clipsvd_vector_S [1, k'] (trained),
  clipsvd_U, clipsvd_S, clipsvd_Vh.
SALT (BioMedIA-MBZUAI/SALT prompt_adapted_SAM2/modeling/Adapters/SALT.py): torch.linalg.svd(W); rho = max(1, int(k *
  ratio_salt)); Sigma' = diag(S) with the top block diag(A*S_top + B) and X@Y added to the bottom block; W' = U relu(Sigma') Vt.
  Keys salt_scale_A, salt_shift_B, salt_X, salt_Y (trained), salt_U, salt_S, salt_Vh.
LoLDU (SKDDJ/LoLDU minloldu/loldu.py): P, L, U = torch.linalg.lu(W); D = diag(U); U /= D; W_res = W - s P L_r diag(D_r) U_r
  with s = lora_alpha / rank; W' = W_res + s P L_r diag(z) U_r. Keys loldu_vector_z (trained), loldu_D, loldu_L, loldu_U,
  loldu_P (int64 row order p with P[i, p_i] = 1), loldu_scaling_factor [1].
"""
import torch
from make_gpt2_golden import CONFIG, BATCH, TIME
from make_gpt2_lora_golden import finish
from make_gpt2_lycoris_golden import base_model

D, VOCAB = CONFIG["n_embd"], CONFIG["vocab_size"]
KEY = "base_model.model.lm_head"


def config_of(peft_type, **fields):
    config = {"peft_type": peft_type, "task_type": "CAUSAL_LM", "auto_mapping": None, "base_model_name_or_path": "gpt2-tiny",
              "revision": None, "inference_mode": True, "target_modules": ["lm_head"], "modules_to_save": None}
    config.update(fields)
    return config


def run_with(folder, config, seed, make):
    model = base_model(seed)
    g = torch.Generator().manual_seed(seed + 100)
    head = model.lm_head
    w0 = head.weight.detach().clone().to(torch.float32)
    tensors, trainable, weight_of = make(w0, g)
    tensors[KEY + ".base_layer.weight"] = head.weight.detach().clone()
    head.forward = lambda x: torch.nn.functional.linear(x, weight_of(tensors))
    ids = torch.randint(0, VOCAB, (BATCH, TIME))
    finish(folder, config, tensors, trainable, model, ids)


def make_svfit(w0, g):
    u, s, vt = torch.linalg.svd(w0, full_matrices=False)
    energy = torch.cumsum(s * s, 0) / (s * s).sum()
    r = int((energy < 0.99).sum().item()) + 1
    ur, sr, vr = u[:, :r].contiguous(), s[:r].contiguous(), vt[:r].contiguous()
    rest = w0 - ur @ torch.diag(sr) @ vr
    tensors = {KEY + ".svfit_s": (sr * (1 + 0.3 * torch.randn(r, generator=g))).contiguous(),
               KEY + ".svfit_U": ur, KEY + ".svfit_S": sr, KEY + ".svfit_Vh": vr}
    return tensors, [KEY + ".svfit_s"], lambda t: rest + ur @ torch.diag(t[KEY + ".svfit_s"]) @ vr


def make_clip_svd(w0, g):
    k = min(w0.shape)
    kp = min(max((int(k * 0.5) // 4) * 4, 1), k)
    u, s, v = torch.svd(w0)  # d_nsvd: U[:, :rank], S[:rank], V.T[:rank]
    ur, sr, vr = u[:, :kp].contiguous(), s[:kp].contiguous(), v.T[:kp].contiguous()
    tensors = {KEY + ".clipsvd_vector_S": (sr * (1 + 0.3 * torch.randn(kp, generator=g))).reshape(1, kp).contiguous(),
               KEY + ".clipsvd_U": ur, KEY + ".clipsvd_S": sr, KEY + ".clipsvd_Vh": vr}
    return tensors, [KEY + ".clipsvd_vector_S"], lambda t: ur @ torch.diag(t[KEY + ".clipsvd_vector_S"].reshape(-1)) @ vr


def make_salt(w0, g, ratio=0.25, r_lora=4):
    u, s, vt = torch.linalg.svd(w0, full_matrices=False)
    k = s.shape[0]
    rho = max(1, int(k * ratio))
    m = k - rho
    bound = (6 / r_lora) ** 0.5
    tensors = {KEY + ".salt_scale_A": (1 + 0.3 * torch.randn(rho, generator=g)).contiguous(),
               KEY + ".salt_shift_B": (0.2 * torch.randn(rho, generator=g)).contiguous(),
               KEY + ".salt_X": ((torch.rand(m, r_lora, generator=g) * 2 - 1) * bound).contiguous(),
               KEY + ".salt_Y": (0.1 * torch.randn(r_lora, m, generator=g)).contiguous(),
               KEY + ".salt_U": u.contiguous(), KEY + ".salt_S": s.contiguous(), KEY + ".salt_Vh": vt.contiguous()}
    names = [KEY + ".salt_scale_A", KEY + ".salt_shift_B", KEY + ".salt_X", KEY + ".salt_Y"]

    def weight(t):
        # SALTLinear.get_modified_singular_values, then U relu(new_s) Vt.
        new_s = torch.diag(s).clone()
        new_s[:rho, :rho] = torch.diag(t[names[0]] * s[:rho] + t[names[1]])
        new_s[rho:, rho:] += t[names[2]] @ t[names[3]]
        return u @ torch.relu(new_s) @ vt
    return tensors, names, weight


def make_loldu(w0, g, rank=6, alpha=1.0):
    p, l, u = torch.linalg.lu(w0)
    d = torch.diagonal(u)
    u = u / d.unsqueeze(-1)
    lr, dr, ur = l[:, :rank].contiguous(), d[:rank].contiguous(), u[:rank].contiguous()
    scaling = alpha / rank
    res = w0 - scaling * p @ lr @ torch.diag(dr) @ ur
    tensors = {KEY + ".loldu_vector_z": (dr * (1 + 0.3 * torch.randn(rank, generator=g))).contiguous(),
               KEY + ".loldu_D": dr, KEY + ".loldu_L": lr, KEY + ".loldu_U": ur,
               KEY + ".loldu_P": p.argmax(1).to(torch.int64).contiguous(),
               KEY + ".loldu_scaling_factor": torch.tensor([scaling], dtype=torch.float32)}
    return tensors, [KEY + ".loldu_vector_z"], lambda t: res + scaling * p @ lr @ torch.diag(t[KEY + ".loldu_vector_z"]) @ ur


def main():
    run_with("gpt2-tiny-svfit", config_of("SVFIT", r=0, energy_threshold=0.99), 71, make_svfit)
    run_with("gpt2-tiny-clip-svd", config_of("CLIP_SVD", global_rank_ratio=0.5), 72, make_clip_svd)
    run_with("gpt2-tiny-salt", config_of("SALT", ratio_salt=0.25, rank=0, r_lora=4, reg_multiplier=0.0), 73, make_salt)
    run_with("gpt2-tiny-loldu", config_of("LOLDU", rank=6, lora_alpha=1.0, init_method="lu"), 74, make_loldu)


if __name__ == "__main__":
    main()

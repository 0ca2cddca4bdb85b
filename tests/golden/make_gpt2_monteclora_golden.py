"""Writes gpt2-tiny-monteclora/: a MonteCLoRA adapter (LoRA with monteclora_config; PEFT's MontecloraLinearVariant in
lora/variants.py and MontecloraSampler in lora/monteclora.py at 5d602fd; Sengupta et al. 2024, arXiv:2411.04358) for
gpt2-tiny in Hugging Face PEFT's file layout, and what PyTorch computes with it, the math written out in plain PyTorch
(no peft package). Run after make_gpt2_golden.py, with Debian's python3-torch:
    cd tests/golden && /usr/bin/python3 make_gpt2_monteclora_golden.py

adapter_model.safetensors: per adapted Conv1D layer lora_A.weight [r, in], lora_B.weight [out, r] and the sampler's
  lora_monteclora_sampler.{std_prior [r], expert_weights_prior [N], gaussian_var_prior [r, r], expert_weights [N]}
  (PEFT saves the sampler's parameters and its two buffers, which hold the last training sample).
golden.safetensors:
  input_ids, logits            evaluation mode: plain LoRA with the mean A (PEFT's sampler is off outside training)
  noise.<key>.{mvn,wishart,dirichlet}
                               one training forward's draws per layer (<key> = base_model.model.<path>): z_mvn
                               [N, in, r], the full Bartlett-sampled Wishart W(r, I) [r, r], z_dirichlet [N]
  train_logits                 the training-mode forward with those draws
  monteclora_loss              PEFT's _get_monteclora_loss right after that forward (KL3 and the entropy read the
                               sample just drawn), the mean over layers of kl_loss_weight (KL1 + KL2 + KL3) + sum(w^2)
  train_loss                   next-token cross-entropy of train_logits + monteclora_loss
  grad.<key>                   d train_loss / d every tensor PEFT trains (lora_A, lora_B, std_prior, expert_weights_prior)
  after.<key>.{gaussian_var_prior,expert_weights}
                               the buffers after that forward (the sample)
  logits_after_step            evaluation logits after one torch.optim.AdamW step (lr 1e-2, no weight decay) on train_loss
  regularizer_at_load          _get_monteclora_loss in training mode before any forward (the saved buffers are the sample)
  reg_grad.<key>               its gradient with respect to std_prior and expert_weights_prior
"""
import math, os
import torch
from torch.distributions.wishart import Wishart
from make_gpt2_golden import CONFIG, BATCH, TIME, GPT2LMHeadModel, write_safetensors
from make_gpt2_lora_golden import HERE, ADAMW, base_config, kept_logits, next_token_loss, pattern_value, read_safetensors

LAYERS = ["attn.c_attn", "attn.c_proj", "mlp.c_proj"]
SAMPLER = ".lora_monteclora_sampler."


def dirichlet_kl(alpha2, prior):
    """PEFT's dirichlet_kl: note log(Gamma(a2)/Gamma(a1)) is added (the textbook KL subtracts it)."""
    alpha1 = torch.tensor([prior] * alpha2.numel())
    gamma = lambda x: torch.lgamma(x).exp()
    return (torch.log(gamma(alpha2.sum()) / gamma(alpha1.sum())) + torch.log(gamma(alpha2) / gamma(alpha1)).sum()
            + ((alpha2 - alpha1) * (torch.digamma(alpha2) - torch.digamma(alpha2.sum()))).sum())


class Sampler:
    """PEFT's MontecloraSampler on the tensors of the file (written from its formulas, full matrices as PEFT has them)."""

    def __init__(self, tensors, key, mc, r):
        self.t, self.key, self.mc, self.r = tensors, key + SAMPLER, mc, r
        self.var_prior, self.weights = tensors[self.key + "gaussian_var_prior"], tensors[self.key + "expert_weights"]

    def sample(self, z_mvn, z_wishart, z_dirichlet):
        n = self.mc["num_samples"]
        std = torch.diag(torch.exp(self.t[self.key + "std_prior"]))
        self.var_prior = torch.diag(torch.clip((std @ z_wishart @ std.T).diag(), min=1e-3))
        chol = torch.linalg.cholesky(self.var_prior)
        noise = self.mc["sample_scaler"] * torch.nan_to_num(torch.einsum("eio,op->eip", z_mvn, chol), nan=1e-3)
        alpha = torch.clamp(torch.exp(self.t[self.key + "expert_weights_prior"]), min=1e-6)
        mu = torch.log(alpha) - torch.log(alpha).mean()
        d = torch.clamp(1 / alpha * (1 - 2 / n) + 1 / n ** 2 * (1 / alpha).sum(), min=1e-6)
        chol_d = torch.linalg.cholesky(torch.diag(d) + 1e-6 * torch.eye(n))
        self.weights = torch.softmax(chol_d @ z_dirichlet + mu, dim=-1)
        return noise, self.weights

    def loss(self):
        mc, r, n = self.mc, self.r, self.mc["num_samples"]
        kl1 = dirichlet_kl(torch.exp(self.t[self.key + "expert_weights_prior"]), mc["dirichlet_prior"])
        std = torch.diag(torch.exp(self.t[self.key + "std_prior"]))
        var = torch.diag((std @ std.T).diag())
        kl2 = 0.5 * (-torch.log(var).trace() * r + var.trace() * r - r ** 2)
        var3 = torch.clamp(self.var_prior, min=1e-6)
        kl3 = n * 0.5 * (var3.trace() - torch.log(var3).trace() - r)
        entropy = (self.weights ** 2).sum() if mc["use_entropy"] else 0
        return mc["kl_loss_weight"] * (kl1 + kl2 + kl3) + entropy


def main():
    torch.manual_seed(61)
    mc = {"num_samples": 3, "use_entropy": True, "dirichlet_prior": 0.5, "sample_scaler": 0.05, "kl_loss_weight": 0.01,
          "buffer_size": 150}
    config = base_config(monteclora_config=mc, target_modules=["c_attn", "mlp.c_proj"], r=4, lora_alpha=8,
                         rank_pattern={r"h\.1\.attn\.c_attn": 2})
    model = GPT2LMHeadModel(CONFIG)
    model.transformer.load_state_dict(read_safetensors(os.path.join(HERE, "gpt2-tiny", "model.safetensors")))
    for p in model.parameters():
        p.requires_grad_(False)
    n = mc["num_samples"]
    tensors, samplers, noise, mode = {}, [], {}, {"train": False}
    for i, block in enumerate(model.transformer.h):
        for name in LAYERS:
            path = f"transformer.h.{i}.{name}"
            if not any(name == t or name.endswith("." + t) for t in config["target_modules"]):
                continue
            conv = block.get_submodule(name)
            in_f, out_f = conv.weight.shape
            r = pattern_value(config["rank_pattern"], path, config["r"])
            s = config["lora_alpha"] / r
            key = f"base_model.model.{path}"
            tensors[key + ".lora_A.weight"] = 0.3 * torch.randn(r, in_f)
            tensors[key + ".lora_B.weight"] = 0.3 * torch.randn(out_f, r)
            tensors[key + SAMPLER + "std_prior"] = 0.5 * torch.randn(r)
            tensors[key + SAMPLER + "expert_weights_prior"] = 0.5 * torch.randn(n)
            # A previous sample in the buffers (PEFT saves them): a positive diagonal and non-uniform weights.
            tensors[key + SAMPLER + "gaussian_var_prior"] = torch.diag(torch.rand(r) * 2 + 0.1)
            tensors[key + SAMPLER + "expert_weights"] = torch.softmax(torch.randn(n), dim=0)
            sampler = Sampler(tensors, key, mc, r)
            samplers.append(sampler)
            noise[key + ".mvn"] = torch.randn(n, in_f, r)
            noise[key + ".wishart"] = Wishart(df=r, scale_tril=torch.eye(r))._bartlett_sampling(torch.Size())
            noise[key + ".dirichlet"] = torch.randn(n)

            def forward(x, conv=conv, key=key, s=s, sampler=sampler):
                a, b = tensors[key + ".lora_A.weight"], tensors[key + ".lora_B.weight"]
                if mode["train"]:
                    eps, w = sampler.sample(noise[key + ".mvn"], noise[key + ".wishart"], noise[key + ".dirichlet"])
                    a = torch.einsum("n,nij->ij", w, a.T + eps).T
                return x @ conv.weight + conv.bias + (x @ a.T) @ b.T * s
            conv.forward = forward

    def monteclora_loss():
        return sum(smp.loss() for smp in samplers) / len(samplers)

    out = os.path.join(HERE, "gpt2-tiny-monteclora")
    os.makedirs(out, exist_ok=True)
    import json
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)

    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, TIME))
    golden_path = os.path.join(out, "golden.safetensors")
    with torch.no_grad():
        logits = model(ids)
    golden = {"input_ids": ids, "logits": kept_logits(golden_path, ids, logits)}
    golden.update({"noise." + k: v for k, v in noise.items()})
    trained = [k for k in tensors if not k.endswith(("gaussian_var_prior", "expert_weights"))]
    for k in trained:
        tensors[k].requires_grad_(True)

    # The regulariser before any forward reads the saved buffers (constants).
    reg = monteclora_loss()
    priors = [k for k in trained if SAMPLER in k]
    grads = torch.autograd.grad(reg, [tensors[k] for k in priors])
    golden["regularizer_at_load"] = reg.detach()
    golden.update({f"reg_grad.{k}": g for k, g in zip(priors, grads)})

    mode["train"] = True
    train_logits = model(ids)
    reg = monteclora_loss()
    loss = next_token_loss(train_logits, ids) + reg
    loss.backward()
    golden["train_logits"] = train_logits.detach()
    golden["monteclora_loss"] = reg.detach()
    golden["train_loss"] = loss.detach()
    golden.update({f"grad.{k}": tensors[k].grad.clone() for k in trained})
    for smp in samplers:
        golden["after." + smp.key + "gaussian_var_prior"] = smp.var_prior.detach()
        golden["after." + smp.key + "expert_weights"] = smp.weights.detach()
    torch.optim.AdamW([tensors[k] for k in trained], **ADAMW).step()
    mode["train"] = False
    with torch.no_grad():
        golden["logits_after_step"] = model(ids)
    write_safetensors(golden_path, golden)
    print(f"wrote {out}: {len(tensors)} adapter tensors ({len(trained)} trained), train loss {loss.item():.6f}, "
          f"regulariser {reg.item():.6f} (at load {golden['regularizer_at_load'].item():.6f}), "
          f"train/eval logits differ by {(train_logits - logits).abs().max().item():.4f}")


if __name__ == "__main__":
    main()

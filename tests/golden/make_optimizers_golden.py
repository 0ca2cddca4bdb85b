"""Golden steps for the optimisers of "Fantastic Pretraining Optimizers" (issue 21).

Plain-PyTorch implementations written from structure-and-optimizers.md section 3.1 (and, where it differs, from the
levanter code the spec cites: NAdamW's momentum term is bias-corrected with t+1 as optax does; MARS's g_prev starts at
zero), not torch.optim. Float64 throughout. Three tensors (two matrices, one vector), gradients in closed form of the
parameters and the step, a learning rate that decays per step as a schedule would, weight decay on the matrices only.
Writes tests/golden/optimizers/<name>.json: the parameters after each of STEPS steps.

Run: /usr/bin/python3 tests/golden/make_optimizers_golden.py [name,name,...]   (only those files; default all)
"""
import json
import math
import os
import sys

import torch

torch.set_default_dtype(torch.float64)
STEPS = 6
SHAPES = {"w1": (4, 3), "w2": (6, 3), "b": (3,)}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers")


def start():
    params = {}
    for k, (name, shape) in enumerate(SHAPES.items()):
        n = math.prod(shape)
        params[name] = torch.tensor([math.sin(0.37 * i + k) for i in range(n)]).reshape(shape)
    return params


def grad(name, p, t):
    # g = 0.5 tanh(p) + 0.3 cos(0.7 i + 1.3 t + k): changes sign between steps, so Cautious's mask bites.
    k = list(SHAPES).index(name)
    i = torch.arange(p.numel()).reshape(p.shape)
    return 0.5 * torch.tanh(p) + 0.3 * torch.cos(0.7 * i + 1.3 * t + k)


def lr_factor(t):
    return 1.0 - 0.1 * (t - 1)


def adam_dir(st, g, b1, b2, eps, t, nesterov=False):
    st["m"] = b1 * st.get("m", torch.zeros_like(g)) + (1 - b1) * g
    st["v"] = b2 * st.get("v", torch.zeros_like(g)) + (1 - b2) * g * g
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    m_hat = b1 * st["m"] / (1 - b1 ** (t + 1)) + (1 - b1) * g / c1 if nesterov else st["m"] / c1
    return m_hat / (torch.sqrt(st["v"] / c2) + eps)


def ns5(g, steps=5, eps=1e-7):
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (torch.linalg.norm(g) + eps)
    tr = g.shape[0] > g.shape[1]
    if tr:
        x = x.T
    for _ in range(steps):
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    return x.T if tr else x


def run(direction, lrs, wds, begin=None, cautious=False):
    params = start()
    state = {n: {} for n in params}
    history = []
    for t in range(1, STEPS + 1):
        grads = {n: grad(n, p, t) for n, p in params.items()}
        extra = begin(grads, state) if begin else None
        for n in params:
            u = direction(n, params[n], grads[n], state[n], t, extra)
            if cautious:
                mask = (u * grads[n] > 0).double()
                u = u * mask / (mask.mean() + 1e-8)
            lr = lrs[n] * lr_factor(t)
            params[n] = params[n] * (1 - lr * wds[n]) - lr * u
        history.append({n: p.flatten().tolist() for n, p in params.items()})
    return history


LR = {"w1": 0.01, "w2": 0.01, "b": 0.01}
WD = {"w1": 0.1, "w2": 0.1, "b": 0.0}


def adamw(b1, b2):
    return lambda n, p, g, st, t, _: adam_dir(st, g, b1, b2, 1e-8, t)


def lion(b1, b2):
    def d(n, p, g, st, t, _):
        m = st.get("m", torch.zeros_like(g))
        u = torch.sign(b1 * m + (1 - b1) * g)
        st["m"] = b2 * m + (1 - b2) * g
        return u
    return d


def mars_begin(b1, gamma):
    def begin(grads, state):
        k = gamma * b1 / (1 - b1)
        c = {n: g + k * (g - state[n].get("prev", torch.zeros_like(g))) for n, g in grads.items()}
        norm = math.sqrt(sum(float((x * x).sum()) for x in c.values()))
        scale = min(1.0, 1.0 / (norm + 1e-6))
        return {n: x * scale for n, x in c.items()}
    return begin


def mars(b1, b2):
    def d(n, p, g, st, t, c):
        st["prev"] = g.clone()
        return adam_dir(st, c[n], b1, b2, 1e-8, t)
    return d


MINI_BLOCKS = {"w1": [1, 1, 1, 1], "w2": [2, 2, 1, 1]}


def mini(b1, b2):
    def d(n, p, g, st, t, _):
        if p.dim() != 2:
            return adam_dir(st, g, b1, b2, 1e-8, t)
        blocks = MINI_BLOCKS[n]
        st["m"] = b1 * st.get("m", torch.zeros_like(g)) + (1 - b1) * g
        sq = torch.stack([blk.pow(2).mean() for blk in torch.split(g, blocks, dim=0)])
        st["v"] = b2 * st.get("v", torch.zeros(len(blocks))) + (1 - b2) * sq
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        den = torch.sqrt(st["v"] / c2) + 1e-8
        rows = torch.repeat_interleave(den, torch.tensor(blocks)).unsqueeze(1)
        return st["m"] / c1 / rows
    return d


def muon(mu, ab1, ab2):
    def d(n, p, g, st, t, _):
        if p.dim() != 2:
            return adam_dir(st, g, ab1, ab2, 1e-8, t)
        st["B"] = mu * st["B"] + g if "B" in st else g.clone()
        u = mu * st["B"] + g
        return ns5(u) * math.sqrt(max(1.0, p.shape[0] / p.shape[1]))
    return d


def scion(mu, b1):
    def d(n, p, g, st, t, _):
        if p.dim() != 2:
            st["b"] = b1 * st.get("b", torch.zeros_like(g)) + (1 - b1) * g
            return torch.sign(st["b"])
        st["m"] = mu * st.get("m", torch.zeros_like(g)) + (1 - mu) * g
        return ns5(st["m"], steps=10) * math.sqrt(max(1.0, p.shape[0] / p.shape[1]))
    return d


def soap(b1, b2, bs, freq, block, eps=1e-8):
    # SOAP as levanter soap.py: step 1 only sets L, R and the eigenbases; from step 2 Adam in the rotated basis with
    # levanter's correction sqrt(1-b2^t)/(1-b1^t), then L, R updated and, every freq steps, one power step + QR.
    # Matrices are cut into block x block pieces; vectors get plain AdamW.
    def eig_basis(c):
        _, vecs = torch.linalg.eigh(c + eps * torch.eye(c.shape[0]))
        return torch.flip(vecs, dims=[1])

    def refresh(c, q, v, axis):
        est = torch.diag(q.T @ c @ q)
        order = torch.argsort(est, descending=True)
        v = torch.index_select(v, axis, order)
        qnew, _ = torch.linalg.qr(c @ q[:, order])
        return qnew, v

    def d(n, p, g, st, t, _):
        if p.dim() != 2:
            return adam_dir(st, g, b1, b2, eps, t)
        rows = [(r, min(block, p.shape[0] - r)) for r in range(0, p.shape[0], block)]
        cols = [(c, min(block, p.shape[1] - c)) for c in range(0, p.shape[1], block)]
        if t == 1:
            st["m"] = torch.zeros_like(g)
            st["v"] = torch.zeros_like(g)
            for r, a in rows:
                for c, b in cols:
                    gb = g[r:r + a, c:c + b]
                    st[("L", r, c)] = (1 - bs) * gb @ gb.T
                    st[("R", r, c)] = (1 - bs) * gb.T @ gb
                    st[("QL", r, c)] = eig_basis(st[("L", r, c)])
                    st[("QR", r, c)] = eig_basis(st[("R", r, c)])
            return torch.zeros_like(g)
        st["m"] = b1 * st["m"] + (1 - b1) * g
        u = torch.zeros_like(g)
        v = st["v"].clone()
        for r, a in rows:
            for c, b in cols:
                gb = g[r:r + a, c:c + b]
                ql, qr = st[("QL", r, c)], st[("QR", r, c)]
                vb = b2 * v[r:r + a, c:c + b] + (1 - b2) * (ql.T @ gb @ qr) ** 2
                mb = ql.T @ st["m"][r:r + a, c:c + b] @ qr
                u[r:r + a, c:c + b] = ql @ (mb / (torch.sqrt(vb) + eps)) @ qr.T
                st[("L", r, c)] = bs * st[("L", r, c)] + (1 - bs) * gb @ gb.T
                st[("R", r, c)] = bs * st[("R", r, c)] + (1 - bs) * gb.T @ gb
                if t % freq == 0:
                    st[("QL", r, c)], vb = refresh(st[("L", r, c)], ql, vb, 0)
                    st[("QR", r, c)], vb = refresh(st[("R", r, c)], qr, vb, 1)
                v[r:r + a, c:c + b] = vb
        st["v"] = v
        return u * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    return d


SOPHIA_POINTS = 100


def sophia_hessian_grad(name, p, t):
    # The fixed stand-in for the gradient of the sampled-label loss (no torch RNG): 0.3 sin(0.9 i + 0.5 t + k).
    k = list(SHAPES).index(name)
    i = torch.arange(p.numel()).reshape(p.shape)
    return 0.3 * torch.sin(0.9 * i + 0.5 * t + k)


def sophia(b1, b2, gamma, eps, clip, k):
    # levanter _sophia_gradient_transform: u = clip(m_hat / max(gamma h, eps)); after every k-th step
    # h <- b2 h + (1-b2) B ghat^2 (the update of step t uses the h of the estimates before it).
    def d(n, p, g, st, t, _):
        st["m"] = b1 * st.get("m", torch.zeros_like(g)) + (1 - b1) * g
        m_hat = st["m"] / (1 - b1 ** t)
        h = st.get("h", torch.zeros_like(g))
        u = torch.clamp(m_hat / torch.clamp(gamma * h, min=eps), -clip, clip)
        if t % k == 0:
            ghat = sophia_hessian_grad(n, p, t)
            st["h"] = b2 * h + (1 - b2) * SOPHIA_POINTS * ghat ** 2
        return u
    return d


def kron_probe(name, p, t):
    # The fixed probe V in place of N(0, I) (no torch RNG): 0.5 sin(1.1 i + 0.6 t + k) + 0.3 cos(0.23 i^2).
    k = list(SHAPES).index(name)
    i = torch.arange(p.numel()).reshape(p.shape).double()
    return 0.5 * torch.sin(1.1 * i + 0.6 * t + k) + 0.3 * torch.cos(0.23 * i * i)


def kron_schedule(steps, min_prob, flat_start, decay, balance_every):
    # levanter precond_update_prob_schedule + its deterministic counter: update when the counter reaches 1/p.
    flags, counter, bal = {}, 0, 0
    for t in range(1, steps + 1):
        prob = min(1.0, max(min_prob, math.exp(-decay * (t - flat_start))))
        counter += 1
        update = counter >= 1 / prob
        balance = False
        if update:
            counter = 0
            bal += 1
            if bal >= balance_every:
                balance, bal = True, 0
        flags[t] = (update, balance)
    return flags


def norm_lower_bound(a):
    max_abs = a.abs().max()
    if max_abs <= 0:
        return max_abs
    a = a / max_abs
    i = torch.argmax((a * a).sum(0))
    x = a[:, i] @ a
    return max_abs * torch.linalg.norm((x / torch.linalg.norm(x)) @ a.T)


def kron(b1, precond_lr, min_prob, flat_start, decay, balance_every, normalize=True, scale=1.0):
    # levanter scale_by_kron (whole-dimension factors, no blocks): momentum M (bias-corrected) preconditioned as
    # Q1^T Q1 M Q2^T Q2; factors fitted to M + sqrt(eps_f32) mean|M| V when due; then clip_by_block_rms(1.1).
    flags = kron_schedule(STEPS, min_prob, flat_start, decay, balance_every)
    damp = math.sqrt(torch.finfo(torch.float32).eps)
    tiny = torch.finfo(torch.float32).tiny

    def d(n, p, g, st, t, _):
        if normalize:
            g = g / (torch.linalg.norm(g) + 1e-16)
        st["m"] = b1 * st.get("m", torch.zeros_like(g)) + (1 - b1) * g
        M = st["m"] / (1 - b1 ** t)
        if "Q" not in st:
            s = scale ** (1 / g.dim())
            st["Q"] = [s * torch.ones(g.shape[0])] if g.dim() == 1 else [s * torch.eye(g.shape[0]), s * torch.eye(g.shape[1])]
        Q = st["Q"]
        update, balance = flags[t]
        if update:
            if balance:
                norms = torch.tensor([q.abs().max() for q in Q])
                gmean = torch.exp(torch.log(norms).mean())
                Q = [q * (gmean / nrm) for q, nrm in zip(Q, norms)]
            V = kron_probe(n, p, t)
            G = M + damp * M.abs().mean() * V
            if g.dim() == 1:
                A = Q[0] * G
                C = V / Q[0]
                t1, t2 = A * A, C * C
                Q = [Q[0] - precond_lr / ((t1 + t2).abs().max() + tiny) * (t1 - t2) * Q[0]]
            else:
                A = Q[0] @ G @ Q[1].T
                C = torch.linalg.solve_triangular(Q[0].T, V, upper=False)
                C = torch.linalg.solve_triangular(Q[1], C, upper=True, left=False)
                new = []
                for i, q in enumerate(Q):
                    t1, t2 = (A @ A.T, C @ C.T) if i == 0 else (A.T @ A, C.T @ C)
                    new.append(q - precond_lr / (norm_lower_bound(t1 + t2) + tiny) * torch.triu(t1 - t2) @ q)
                Q = new
        st["Q"] = Q
        u = Q[0] * Q[0] * M if g.dim() == 1 else Q[0].T @ Q[0] @ M @ Q[1].T @ Q[1]
        rms = torch.sqrt((u * u).mean())
        return u / max(1.0, float(rms) / 1.1)
    return d


def main():
    os.makedirs(OUT, exist_ok=True)
    muon_lr = {"w1": 0.02, "w2": 0.02, "b": 0.004}
    cases = {
        "nadamw": run(lambda n, p, g, st, t, _: adam_dir(st, g, 0.95, 0.95, 1e-8, t, nesterov=True), LR, WD),
        "lion": run(lion(0.9, 0.95), {n: 0.002 for n in LR}, {n: 0.7 if n != "b" else 0.0 for n in LR}),
        "mars": run(mars(0.95, 0.99), LR, WD, begin=mars_begin(0.95, 0.025)),
        "adam_mini": run(mini(0.9, 0.95), LR, WD),
        "muon": run(muon(0.95, 0.8, 0.98), muon_lr, WD),
        "scion": run(scion(0.98, 0.95), muon_lr, WD),
        "cautious_adamw": run(adamw(0.95, 0.95), LR, WD, cautious=True),
        "cautious_lion": run(lion(0.9, 0.95), {n: 0.002 for n in LR}, {n: 0.7 if n != "b" else 0.0 for n in LR}, cautious=True),
        "soap": run(soap(0.95, 0.98, 0.95, 2, 2), LR, WD),
        "kron": run(kron(0.95, 0.2, 0.3, 2, 0.5, 2), LR, WD),
        "sophia": run(sophia(0.96, 0.5, 0.2, 1e-12, 1.0, 2), LR, WD),
    }
    only = sys.argv[1].split(",") if len(sys.argv) > 1 else list(cases)
    cases = {k: v for k, v in cases.items() if k in only}
    for name, history in cases.items():
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump({"steps": STEPS, "shapes": {k: list(v) for k, v in SHAPES.items()}, "history": history}, f)
    print("wrote", ", ".join(cases))


if __name__ == "__main__":
    main()

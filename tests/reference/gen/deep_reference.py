#!/usr/bin/python3
"""Reference outputs and gradients for the deep MoE layer (moekit::deep), written from the
papers' formulas in PyTorch with autograd -- an independent implementation, not a port of
the C++ code. For each routing kind it writes tests/deep/reference/<name>.json holding the
configuration, the inputs and weights (rounded to 4 decimals so both sides read the same
doubles), the forward output y, the auxiliary losses, and the gradients of

    J = output_weight * 0.5 * sum(y^2) + (sum of the weighted auxiliary losses)

with respect to x and every parameter. Conventions shared with the C++ layer (the spec, not
the code): rows are tokens, y = x @ W; W1 is d x h, W2 is h x d; capacity
C = ceil(cf * k * T / E) with first choices placed before second choices; f_i counts the
T*k routing choices before capacity; P_i is the mean full softmax of the router logits.

Run:  /usr/bin/python3 tests/reference/gen/deep_reference.py   (torch 1.13, Debian 12)
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deep", "reference")

T, D, H, E = 16, 8, 8, 4
ACTS = {"relu": torch.relu, "gelu": F.gelu, "silu": F.silu}  # gelu: exact erf form


def rounded(shape, gen, scale=1.0):
    v = (torch.rand(shape, generator=gen) * 2 - 1) * scale
    return torch.round(v * 1e4) / 1e4


def splitmix_hash(token_id, seed, num_experts):
    # Roller et al. 2021 "Random Hash": a fixed random function of the id; SplitMix64 as in
    # moekit/core/rng.hpp derive_seed(seed, id).
    m = (1 << 64) - 1
    z = (seed + 0x9E3779B97F4A7C15 * (token_id + 1)) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z = z ^ (z >> 31)
    return z % num_experts


def cv_squared(v):
    # Shazeer et al. 2017 (tensor2tensor cv_squared): population variance / mean^2.
    return v.var(unbiased=False) / (v.mean() ** 2 + 1e-10)


def ffn(p, x, act):
    return ACTS[act](x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def layer(cfg, P, x, noise, ids):
    routing, k, act = cfg["routing"], cfg["k"], cfg["activation"]
    aux = cfg["aux"]
    losses = {"load_balance": 0.0, "z_loss": 0.0, "importance": 0.0, "load": 0.0}
    y = torch.zeros(T, D)
    load_counts = torch.zeros(E)
    dropped = 0
    if routing in ("topk", "noisy_topk"):
        z = x @ P["router"]
        probs = torch.softmax(z, dim=-1)
        if routing == "noisy_topk":
            # Shazeer et al. 2017, Eq. 3-5.
            sd = F.softplus(x @ P["noise_router"])
            Hn = z + noise * sd
            vals, idx = Hn.topk(k, dim=-1)
            gates = torch.softmax(vals, dim=-1)
        else:
            s = probs if cfg["score"] == "softmax" else torch.sigmoid(z)
            sel = s + torch.tensor(cfg["bias"]) if cfg["balance_bias"] else s
            _, idx = sel.topk(k, dim=-1)
            sv = s.gather(1, idx)
            gates = sv / sv.sum(-1, keepdim=True) if cfg["normalize"] else sv
        keep = torch.ones(T, k, dtype=torch.bool)
        if cfg["capacity_factor"] > 0:
            cap = math.ceil(cfg["capacity_factor"] * k * T / E)
            used = [0] * E
            for r in range(k):  # first choices of all tokens before any second choice
                for t in range(T):
                    e = int(idx[t, r])
                    if used[e] < cap:
                        used[e] += 1
                    else:
                        keep[t, r] = False
                        dropped += 1
        for e in range(E):
            tt, rr = torch.nonzero((idx == e) & keep, as_tuple=True)
            load_counts[e] = len(tt)
            if len(tt):
                y = y.index_add(0, tt, gates[tt, rr].unsqueeze(1) * ffn(P["experts"][e], x[tt], act))
        f = F.one_hot(idx, E).sum(dim=(0, 1)).double() / (T * k)
        if aux["load_balance"] > 0:  # Fedus et al. 2022, Eq. 4
            losses["load_balance"] = aux["load_balance"] * E * (f * probs.mean(0)).sum()
        if aux["z_loss"] > 0:  # Zoph et al. 2022, Eq. 5
            losses["z_loss"] = aux["z_loss"] * (torch.logsumexp(z, -1) ** 2).mean()
        if aux["importance"] > 0:  # Shazeer et al. 2017, Eq. 6-7
            G = torch.zeros(T, E).scatter(1, idx, gates)
            losses["importance"] = aux["importance"] * cv_squared(G.sum(0))
        if aux["load"] > 0:  # Shazeer et al. 2017, Eq. 8-11
            top, _ = Hn.topk(k + 1, dim=-1)
            thr_in, thr_out = top[:, k:k + 1], top[:, k - 1:k]
            normal = torch.distributions.Normal(0.0, 1.0)
            prob = torch.where(Hn > thr_in, normal.cdf((z - thr_in) / sd), normal.cdf((z - thr_out) / sd))
            losses["load"] = aux["load"] * cv_squared(prob.sum(0))
    elif routing == "expert_choice":  # Zhou et al. 2022, Eq. 1-3
        z = x @ P["router"]
        S = torch.softmax(z, dim=-1)
        c = min(T, math.ceil(cfg["capacity_factor"] * T / E))
        vals, tok = S.topk(c, dim=0)
        for e in range(E):
            y = y.index_add(0, tok[:, e], vals[:, e:e + 1] * ffn(P["experts"][e], x[tok[:, e]], act))
            load_counts[e] = c
        if aux["z_loss"] > 0:
            losses["z_loss"] = aux["z_loss"] * (torch.logsumexp(z, -1) ** 2).mean()
    elif routing == "hash":  # Roller et al. 2021
        experts = torch.tensor([splitmix_hash(i, cfg["hash_seed"], E) for i in ids])
        for e in range(E):
            tt = torch.nonzero(experts == e, as_tuple=True)[0]
            load_counts[e] = len(tt)
            if len(tt):
                y = y.index_add(0, tt, ffn(P["experts"][e], x[tt], act))
    elif routing == "soft":  # Puigcerver et al. 2023, Eq. 1-3
        m = cfg["slots"]
        logits = x @ P["router"]
        Dm = torch.softmax(logits, dim=0)
        Cm = torch.softmax(logits, dim=1)
        Xs = Dm.t() @ x
        Ys = torch.cat([ffn(P["experts"][e], Xs[e * m:(e + 1) * m], act) for e in range(E)])
        y = Cm @ Ys
        load_counts[:] = 1
    for p in P["shared"]:  # DeepSeek-MoE shared experts
        y = y + ffn(p, x, act)
    if cfg["residual"]:
        y = y + x
    return y, losses, (load_counts / load_counts.sum()).tolist(), dropped


def run(name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    R = E * cfg.get("slots", 1) if cfg["routing"] == "soft" else E
    x = rounded((T, D), gen, 1.5)
    P = {"router": rounded((D, R), gen, 1.0), "experts": [], "shared": []}
    if cfg["routing"] == "hash":
        P["router"] = torch.zeros(D, 0)
    P["noise_router"] = rounded((D, E), gen, 0.5) if cfg["routing"] == "noisy_topk" else torch.zeros(0, 0)
    for lst, n in (("experts", E), ("shared", cfg["num_shared"])):
        for _ in range(n):
            P[lst].append({"w1": rounded((D, H), gen, 0.5), "b1": rounded((H,), gen, 0.3),
                           "w2": rounded((H, D), gen, 0.5), "b2": rounded((D,), gen, 0.3)})
    noise = rounded((T, E), gen, 2.0)
    ids = [int(v) for v in torch.randint(0, 100, (T,), generator=gen)]
    leaves = [x, P["router"], P["noise_router"]] + [t for lst in ("experts", "shared") for p in P[lst] for t in p.values()]
    for t in leaves:
        t.requires_grad_(True)
    y, losses, load, dropped = layer(cfg, P, x, noise, ids)
    aux_total = sum(losses.values())
    J = cfg["output_weight"] * 0.5 * (y ** 2).sum() + aux_total
    J.backward()

    def num(t):
        return [[float("%.12g" % v) for v in row] for row in t.tolist()] if t.dim() == 2 else \
               [float("%.12g" % v) for v in t.tolist()]

    def raw(t):
        return [[float("%.4f" % v) for v in row] for row in t.tolist()] if t.dim() == 2 else \
               [float("%.4f" % v) for v in t.tolist()]

    def expert_list(lst, fn):
        return [{key: fn(getattr(p[key], "grad") if fn is num else p[key]) for key in ("w1", "b1", "w2", "b2")} for p in lst]

    out = {
        "name": name,
        "generator": "tests/reference/gen/deep_reference.py (PyTorch %s, autograd)" % torch.__version__,
        "objective": "J = output_weight * 0.5 * sum(y^2) + aux_loss",
        "config": dict(cfg, tokens=T, dim=D, hidden=H, num_experts=E),
        "x": raw(x.detach()), "noise": raw(noise), "token_ids": ids,
        "params": {"router": raw(P["router"].detach()), "noise_router": raw(P["noise_router"].detach()),
                   "experts": expert_list(P["experts"], raw), "shared": expert_list(P["shared"], raw)},
        "y": num(y.detach()),
        "losses": {key: float("%.12g" % float(v)) for key, v in losses.items()},
        "aux_loss": float("%.12g" % float(aux_total)),
        "objective_value": float("%.12g" % float(J)),
        "load": [float("%.12g" % v) for v in load], "dropped": dropped,
        "grads": {"x": num(x.grad), "router": num(P["router"].grad) if P["router"].numel() else [],
                  "noise_router": num(P["noise_router"].grad) if P["noise_router"].numel() else [],
                  "experts": expert_list(P["experts"], num), "shared": expert_list(P["shared"], num)},
    }
    with open(os.path.join(OUT, name + ".json"), "w") as fh:
        json.dump(out, fh, separators=(",", ":"))
    print(f"{name}: J={float(J):.6f} aux={float(aux_total):.6f} dropped={dropped} load={[round(v, 3) for v in load]}")


def base(**kw):
    cfg = {"routing": "topk", "k": 2, "normalize": True, "score": "softmax", "capacity_factor": 0.0,
           "balance_bias": False, "bias": [0.0] * E, "slots": 1, "hash_seed": 0, "num_shared": 0,
           "activation": "gelu", "residual": False, "output_weight": 1.0,
           "aux": {"load_balance": 0.0, "z_loss": 0.0, "importance": 0.0, "load": 0.0}}
    aux = kw.pop("aux", {})
    cfg.update(kw)
    cfg["aux"].update(aux)
    return cfg


CASES = {
    "switch_top1": base(k=1, normalize=False, activation="relu", aux={"load_balance": 0.5, "z_loss": 0.1}),
    "switch_aux_only": base(k=1, normalize=False, output_weight=0.0, aux={"load_balance": 1.0, "z_loss": 1.0}),
    "mixtral_top2": base(k=2, normalize=True, aux={"load_balance": 0.3, "z_loss": 0.05}),
    "gshard_top2": base(k=2, normalize=False, activation="silu"),
    "noisy_top2": base(routing="noisy_topk", k=2, aux={"importance": 0.5, "load": 0.5}),
    "noisy_aux_only": base(routing="noisy_topk", k=1, output_weight=0.0, aux={"importance": 1.0, "load": 1.0}),
    "capacity_top1": base(k=1, normalize=False, capacity_factor=1.0, residual=True, aux={"load_balance": 0.1}),
    "capacity_top2": base(k=2, normalize=True, capacity_factor=1.0, activation="silu"),
    "deepseek_v3": base(k=2, score="sigmoid", normalize=True, balance_bias=True,
                        bias=[0.3, -0.2, 0.1, -0.25], num_shared=1),
    "expert_choice": base(routing="expert_choice", capacity_factor=2.0, aux={"z_loss": 0.1}),
    "hash": base(routing="hash", k=1, hash_seed=7, residual=True, activation="relu"),
    "soft": base(routing="soft", slots=2),
    "shared_top2": base(k=2, num_shared=2, residual=True, activation="silu"),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    names = sys.argv[1:] or list(CASES)
    for i, name in enumerate(CASES):
        if name in names:
            run(name, CASES[name], 1000 + i)

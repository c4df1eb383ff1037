"""Lean PyTorch twin of trade-rs' multi-well flow, for `cargo xtask bench --compare-torch`.

Optional: never needed by the build or the tests (`pip install torch numpy`).

The flow (trade-flows `FlowConfig::multi_well(5, 15, [256, 256])`): 15 blocks of
[two-sided coupling -> fixed random permutation] -> conditional affine on raw T -> N(0, T I).
Couplings are RQ splines (K = 8 bins on [-3, 3], minimum bin 0.1, learnable edges, linear
tails; 3K + 1 raw numbers per dimension) or GLOW affine (s = 1.0 * tanh(s_raw)); every
conditioner is an MLP [in -> 256 -> 256 -> out] with SiLU, fed [x_other, log T].

One TRADE step: g = d log q / dT by autograd with create_graph, SmoothL1(g, target), backward,
Adam. One NLL step: -mean log q, backward, Adam. Float64 by default (trade-rs runs in f64).

Usage: python bench_flow.py --coupling rq|affine --loss trade|nll --batch 512 --threads 2
       --reps 5 [--dtype float64|float32]
Prints one JSON line: {"impl": "pytorch", ..., "median_s": ..., "times_s": [...]}.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

DIM = 5
BLOCKS = 15
HIDDEN = 256
BINS = 8
BOUND = 3.0
MIN_BIN = 0.1


def mlp(n_in, n_out):
    return nn.Sequential(
        nn.Linear(n_in, HIDDEN), nn.SiLU(),
        nn.Linear(HIDDEN, HIDDEN), nn.SiLU(),
        nn.Linear(HIDDEN, n_out),
    )


def rq_spline(x, raw):
    """Forward RQ spline per element: x (m,), raw (m, 3K+1) -> (y, log dy/dx)."""
    k = BINS
    sigma = math.log(math.expm1(2 * BOUND / k - MIN_BIN))
    left = raw[:, 0] - BOUND
    bottom = raw[:, 1] - BOUND
    w = MIN_BIN + F.softplus(raw[:, 2:2 + k] + sigma)
    h = MIN_BIN + F.softplus(raw[:, 2 + k:2 + 2 * k] + sigma)
    d_in = F.softplus(raw[:, 2 + 2 * k:] + math.log(math.e - 1))
    slope = h.sum(1) / w.sum(1)
    derivs = torch.cat([slope[:, None], d_in, slope[:, None]], 1)
    cw = torch.cumsum(w, 1)
    ch = torch.cumsum(h, 1)
    idx = ((left[:, None] + cw[:, :-1]) <= x[:, None]).sum(1, keepdim=True)
    inside = (x >= left) & (x <= left + cw[:, -1])
    wk = w.gather(1, idx)[:, 0]
    hk = h.gather(1, idx)[:, 0]
    xk = left + cw.gather(1, idx)[:, 0] - wk
    yk = bottom + ch.gather(1, idx)[:, 0] - hk
    d0 = derivs.gather(1, idx)[:, 0]
    d1 = derivs.gather(1, idx + 1)[:, 0]
    xi = ((x - xk) / wk).clamp(0.0, 1.0)
    sk = hk / wk
    t = xi * (1 - xi)
    den = sk + (d0 + d1 - 2 * sk) * t
    y_in = yk + hk * (sk * xi * xi + d0 * t) / den
    num = d1 * xi * xi + 2 * sk * t + d0 * (1 - xi) ** 2
    ld_in = 2 * torch.log(sk) + torch.log(num) - 2 * torch.log(den)
    y_out = bottom + slope * (x - left)
    ld_out = torch.log(slope)
    return torch.where(inside, y_in, y_out), torch.where(inside, ld_in, ld_out)


class Coupling(nn.Module):
    """x1' = T(x1; NN1([x2, log T])), x2' = T(x2; NN2([x1', log T]))."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.len1 = 2
        self.len2 = DIM - 2
        p = 3 * BINS + 1 if kind == "rq" else 2
        self.p = p
        self.nn1 = mlp(self.len2 + 1, self.len1 * p)
        self.nn2 = mlp(self.len1 + 1, self.len2 * p)

    def transform(self, x, params):
        n, d = x.shape
        if self.kind == "rq":
            raw = params.reshape(n * d, self.p)
            y, ld = rq_spline(x.reshape(-1), raw)
            return y.reshape(n, d), ld.reshape(n, d).sum(1)
        s = 1.0 * torch.tanh(params[:, :d])
        return torch.exp(s) * x + params[:, d:], s.sum(1)

    def forward(self, x, logc):
        x1, x2 = x[:, :self.len1], x[:, self.len1:]
        y1, ld1 = self.transform(x1, self.nn1(torch.cat([x2, logc], 1)))
        y2, ld2 = self.transform(x2, self.nn2(torch.cat([y1, logc], 1)))
        return torch.cat([y1, y2], 1), ld1 + ld2


class Flow(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.blocks = nn.ModuleList([Coupling(kind) for _ in range(BLOCKS)])
        g = torch.Generator().manual_seed(0)
        self.perms = [torch.randperm(DIM, generator=g) for _ in range(BLOCKS)]
        self.final = mlp(1, 2 * DIM)

    def log_prob(self, x, c):
        logc = torch.log(c)
        ld = torch.zeros(x.shape[0], dtype=x.dtype)
        for block, perm in zip(self.blocks, self.perms):
            x, l = block(x, logc)
            ld = ld + l
            x = x[:, perm]
        out = self.final(c)
        s = 2.0 * 0.636 * torch.atan(out[:, :DIM])
        z = torch.exp(s) * x + out[:, DIM:]
        ld = ld + s.sum(1)
        base = -(z * z).sum(1) / (2 * c[:, 0]) - 0.5 * DIM * torch.log(2 * math.pi * c[:, 0])
        return base + ld


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--coupling", default="rq", choices=["rq", "affine"])
    ap.add_argument("--loss", default="trade", choices=["trade", "nll"])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    torch.set_default_dtype(dtype)
    torch.manual_seed(0)
    flow = Flow(a.coupling)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-6)
    n = a.batch
    i = torch.arange(n, dtype=dtype)
    j = torch.arange(DIM, dtype=dtype)
    x = 3.0 * (torch.frac((i[:, None] * 7 + j[None, :] * 13 + 3) * 0.618034) - 0.5)
    c0 = (0.5 + (torch.arange(n) % 10).to(dtype) * 0.15)[:, None]
    target = torch.sin(i * 0.37)[:, None]
    times = []
    for _ in range(a.reps + 1):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if a.loss == "trade":
            c = c0.clone().requires_grad_(True)
            lq = flow.log_prob(x, c)
            (g,) = torch.autograd.grad(lq.sum(), c, create_graph=True)
            loss = F.smooth_l1_loss(g, target, beta=1.0)
        else:
            loss = -flow.log_prob(x, c0).mean()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    times = times[1:]
    med = sorted(times)[len(times) // 2]
    print(json.dumps({
        "impl": "pytorch", "coupling": a.coupling, "loss": a.loss, "batch": n,
        "threads": a.threads, "dtype": a.dtype,
        "params": sum(p.numel() for p in flow.parameters()),
        "median_s": round(med, 6), "times_s": [round(t, 6) for t in times],
    }))


if __name__ == "__main__":
    main()

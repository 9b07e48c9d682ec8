"""OT-CFM (TorchCFM) on a snapshot split written by `bench_real dump_split=DIR`, under a wall-clock
budget, scored like ijkonet: one-step W1 (exact EMD, Euclidean cost) from the held-out cells of
snapshot k, pushed by the learned flow from t_k to t_{k+1}, to the held-out cells of snapshot k+1.

The issue-17 peer: TorchCFM 1.0.7's ExactOptimalTransportConditionalFlowMatcher (sigma = 0.1), a
time-conditioned 3 x 64 SELU MLP v(x, t), Adam 1e-3, each iteration one batch of 256 cells per
consecutive pair (coupled by exact OT within the batch, time k + s for s ~ U[0, 1]). The flow is
integrated with fixed-step RK4 (100 steps per unit time). One torch thread, like ijkonet's default.

    PYTHONPATH=<torchcfm, pot, numpy, scipy> python benches/otcfm_eb.py DIR/eb_pca5_seed0 \
        budgets=24,60,180 [seed=0]

Written for this benchmark; it times training only (not the evaluation) and evaluates a copy of
the model at each budget while training continues.
"""

import copy
import sys
import time

import numpy as np
import ot
import torch
from torchcfm.conditional_flow_matching import ExactOptimalTransportConditionalFlowMatcher


def load(path):
    z = np.load(path)
    data, labels = z["data"], z["labels"]
    return [torch.tensor(data[labels == k], dtype=torch.float32) for k in range(labels.max() + 1)]


def mlp(dim, width=64):
    return torch.nn.Sequential(
        torch.nn.Linear(dim + 1, width), torch.nn.SELU(),
        torch.nn.Linear(width, width), torch.nn.SELU(),
        torch.nn.Linear(width, width), torch.nn.SELU(),
        torch.nn.Linear(width, dim))


@torch.no_grad()
def push(model, x, t0, t1, steps=100):
    h = (t1 - t0) / steps
    t = t0

    def f(y, s):
        return model(torch.cat([y, torch.full((y.shape[0], 1), s)], 1))

    for _ in range(steps):
        k1 = f(x, t)
        k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
        k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
        k4 = f(x + h * k3, t + h)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t += h
    return x


def w1(a, b):
    m = ot.dist(a.numpy().astype(np.float64), b.numpy().astype(np.float64), metric="euclidean")
    return ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), m, numItermax=10_000_000)


def main():
    prefix = sys.argv[1]
    budgets, seed = [24.0, 60.0, 180.0], 0
    for arg in sys.argv[2:]:
        key, value = arg.split("=")
        if key == "budgets":
            budgets = [float(b) for b in value.split(",")]
        elif key == "seed":
            seed = int(value)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    train, test = load(prefix + "_train.npz"), load(prefix + "_test.npz")
    dim, steps = train[0].shape[1], len(train) - 1
    model = mlp(dim)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    fm = ExactOptimalTransportConditionalFlowMatcher(sigma=0.1)
    no_motion = np.mean([w1(test[k], test[k + 1]) for k in range(steps)])
    trained, it, pending = 0.0, 0, sorted(budgets)
    while pending:
        start = time.perf_counter()
        opt.zero_grad()
        ts, xs, us = [], [], []
        for k in range(steps):
            x0 = train[k][torch.randint(len(train[k]), (256,))]
            x1 = train[k + 1][torch.randint(len(train[k + 1]), (256,))]
            t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1)
            ts.append(t + k)
            xs.append(xt)
            us.append(ut)
        t, xt, ut = torch.cat(ts), torch.cat(xs), torch.cat(us)
        loss = ((model(torch.cat([xt, t[:, None]], 1)) - ut) ** 2).mean()
        loss.backward()
        opt.step()
        it += 1
        trained += time.perf_counter() - start
        if trained >= pending[0]:
            frozen = copy.deepcopy(model)
            per = [w1(push(frozen, test[k], k, k + 1), test[k + 1]) for k in range(steps)]
            print(f"OT-CFM {prefix.split('/')[-1]}: {trained:.1f} s training, {it} iterations: "
                  f"one-step W1 {np.mean(per):.4f} {np.round(per, 3).tolist()} (no motion {no_motion:.4f})",
                  flush=True)
            pending.pop(0)


if __name__ == "__main__":
    main()

"""Time a JAX implementation of one JKOnet*_V training epoch, for a side-by-side with ours.

The step is the one the JKOnet* reference jit-compiles (spec jkonet_star.md §4, §6.1): an MLP energy
(2 x 64 softplus, Dense(1) head), its input gradient by jax.grad, the weighted squared first-order
residual ||tau * grad V(y) + y - x||^2 over a batch of 250 couplings, global-norm clipping at 10 and
Adam (lr 1e-3) from optax, jax.jit over the whole step. An epoch is 20 batches of a shuffled set of
5000 couplings in 2-D (wavy_plateau's 5 x 1000), drawn with numpy as the reference's loader does.

Written for this benchmark (not the reference's code); the batching is numpy indexing, lighter
than the reference's torch DataLoader, so these times favour JAX.

    python benches/jax_jkonet_star_v.py [epochs=200]   (scripts/bench_jax_star.sh sets up JAX)
"""

import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


class Potential(nn.Module):
    @nn.compact
    def __call__(self, x):
        for width in (64, 64):
            x = nn.softplus(nn.Dense(width)(x))
        return nn.Dense(1)(x).sum()


def main():
    epochs = 200
    for arg in sys.argv[1:]:
        key, value = arg.split("=")
        if key == "epochs":
            epochs = int(value)
    rng = np.random.default_rng(0)
    n, d, batch = 5000, 2, 250
    x = rng.uniform(-4, 4, (n, d)).astype(np.float32)
    y = (x + 0.1 * rng.standard_normal((n, d))).astype(np.float32)
    w = np.full((n,), 1.0 / 1000, dtype=np.float32)
    tau = 1.0

    model = Potential()
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, d)))
    opt = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(1e-3))
    state = opt.init(params)

    def loss_fn(p, xb, yb, wb):
        grad_v = jax.grad(lambda z: model.apply(p, z))(yb)
        r = tau * grad_v + (yb - xb)
        return jnp.sum(wb * jnp.sum(r * r, axis=1)) / jnp.sum(wb)

    @jax.jit
    def step(p, s, xb, yb, wb):
        value, g = jax.value_and_grad(loss_fn)(p, xb, yb, wb)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, value

    def epoch(p, s):
        order = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            p, s, value = step(p, s, x[idx], y[idx], w[idx])
            total += float(value)  # the reference logs the epoch's mean loss
        return p, s, total

    params, state, _ = epoch(params, state)  # compile
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        params, state, _ = epoch(params, state)
        times.append(time.perf_counter() - start)
    times = np.array(times) * 1e3
    print(f"JAX {jax.__version__} ({jax.default_backend()}), JKOnet*_V: {epochs} epochs x {n // batch} steps, "
          f"{times.mean():.2f} ms/epoch (median {np.median(times):.2f})")


if __name__ == "__main__":
    main()

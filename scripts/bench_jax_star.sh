#!/usr/bin/env bash
# JKOnet*_V training speed side by side with a jit-compiled JAX implementation of the same step
# (benches/jax_jkonet_star_v.py), alternating runs so that both see the same machine load.
# Sets up JAX 0.4.26 (the JKOnet* reference's version) in ~/.cache/ijkonet/jaxvenv once; needs PyPI.
#   bash scripts/bench_jax_star.sh [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
rounds="${1:-3}"
venv="${IJKONET_CACHE_DIR:-$HOME/.cache/ijkonet}/jaxvenv"
if ! "$venv/bin/python" -c 'import jax, flax, optax' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "jax[cpu]==0.4.26" "flax==0.8.4" "optax==0.2.2"
fi
cargo build --release --example bench_jkonet_star
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$rounds"); do
  ./target/release/examples/bench_jkonet_star part=speed_v device=cpu speed_epochs=1000 | grep '^speed V:'
  "$venv/bin/python" benches/jax_jkonet_star_v.py epochs=1000
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Provision libtorch 2.11.0 (the version tch 0.24.0 binds) from PyPI into a cache outside the repository.
# Idempotent: a complete install is detected by a stamp file and reused.
# Prints the libtorch directory (the torch package folder, with lib/ and include/) on stdout.
set -euo pipefail

# System BLAS/LAPACK for ndarray-linalg (JKOnet*_l closed form): Debian's OpenBLAS, linked statically
# (.cargo/config.toml), and the Fortran runtime its LAPACK needs; installed once.
# HDF5 for the .h5ad reader (hdf5-metno): Debian's libhdf5-dev (1.10), found through pkg-config.
_missing=""
for _pkg in libopenblas-dev liblapack-dev libgfortran-12-dev libhdf5-dev pkg-config; do
    dpkg -s "$_pkg" >/dev/null 2>&1 || _missing="$_missing $_pkg"
done
if [ -n "$_missing" ]; then
    echo "provision: installing$_missing (apt)" >&2
    _sudo=""
    [ "$(id -u)" -eq 0 ] || _sudo="sudo"
    $_sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq $_missing >&2
fi

TORCH_VERSION="2.11.0"
CACHE_DIR="${IJKONET_CACHE_DIR:-$HOME/.cache/ijkonet}"
VENV="$CACHE_DIR/torch-$TORCH_VERSION"
STAMP="$VENV/.ijkonet-complete"

if [ ! -f "$STAMP" ]; then
    echo "provision: installing torch==$TORCH_VERSION into $VENV (one time, ~4.6 GB)" >&2
    mkdir -p "$CACHE_DIR"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "torch==$TORCH_VERSION" >&2
    "$VENV/bin/python" -W ignore -c "import torch, os; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__; print(os.path.dirname(torch.__file__))" > "$VENV/.libtorch-dir"
    touch "$STAMP"
fi
cat "$VENV/.libtorch-dir"

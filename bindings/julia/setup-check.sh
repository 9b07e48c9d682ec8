#!/usr/bin/env bash
# Idempotent: a small venv with tree-sitter and tree-sitter-julia for bindings/julia/check.py.
# Prints the venv's python path.
set -euo pipefail
VENV=${IJKONET_JULIA_CHECK_VENV:-$HOME/.cache/ijkonet/julia-check}
if ! "$VENV/bin/python" -c 'import tree_sitter, tree_sitter_julia' >/dev/null 2>&1; then
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input tree-sitter tree-sitter-julia >&2
fi
echo "$VENV/bin/python"

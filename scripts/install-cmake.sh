#!/usr/bin/env bash
# Install CMake (≥ 3.25, Debian bookworm's package) when it is missing. Idempotent: does nothing when
# cmake is already on PATH. Needs root (or sudo) only the first time.
set -euo pipefail
if command -v cmake >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-cmake: installing cmake with apt-get" >&2
$SUDO apt-get install -y cmake >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y cmake >&2; }

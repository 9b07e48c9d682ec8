#!/usr/bin/env bash
# Install R and testthat from Debian (no CRAN access here). Idempotent: does nothing when Rscript and
# testthat are already present.
set -euo pipefail
if command -v Rscript >/dev/null 2>&1 && Rscript -e 'quit(status = !requireNamespace("testthat", quietly = TRUE))' >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS="r-base-core r-base-dev r-cran-testthat"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends $PKGS; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $PKGS
fi

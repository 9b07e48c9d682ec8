#!/usr/bin/env bash
# Build libijkonet if needed, install the R package into a temporary library, run its testthat tests
# and print one line "N passed, N failed". Exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
bash scripts/install-r.sh
if [ ! -f target/release/libijkonet.so ]; then
    . scripts/env.sh && cargo build --release --lib
fi
export IJKONET_LIB_DIR=${IJKONET_LIB_DIR:-$ROOT/target/release}
export IJKONET_INCLUDE_DIR=${IJKONET_INCLUDE_DIR:-$ROOT/include}
# Programs linked with -lijkonet load it by its SONAME, libijkonet.so.MAJOR (build.rs).
if [ -f "$IJKONET_LIB_DIR/libijkonet.so" ] && [ ! -e "$IJKONET_LIB_DIR/libijkonet.so.0" ]; then
    ln -sfn libijkonet.so "$IJKONET_LIB_DIR/libijkonet.so.0"
fi
LIB=$(mktemp -d)
trap 'rm -rf "$LIB"' EXIT
# Install from a copy so that the source tree stays free of build outputs.
cp -r bindings/R/ijkonet "$LIB/pkg"
R CMD INSTALL --no-test-load --library="$LIB" "$LIB/pkg" >"$LIB/install.log" 2>&1 || {
    cat "$LIB/install.log"; echo "0 passed, 1 failed"; exit 1; }
cd bindings/R/ijkonet/tests
R_LIBS="$LIB" Rscript -e '
library(testthat)
library(ijkonet)
res <- as.data.frame(test_dir("testthat", reporter = "summary", stop_on_failure = FALSE))
failed <- sum(res$failed) + sum(res$error)
cat(sprintf("%d passed, %d failed\n", sum(res$passed), failed))
quit(status = if (failed > 0) 1 else 0)
'

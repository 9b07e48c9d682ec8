#!/usr/bin/env bash
# R CMD build + R CMD check --no-manual of bindings/R/ijkonet against target/release/libijkonet.so.
# Fails when the check reports an ERROR or a WARNING; prints the check's status line.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bash "$ROOT/scripts/install-r.sh"
export IJKONET_LIB_DIR=${IJKONET_LIB_DIR:-$ROOT/target/release}
export IJKONET_INCLUDE_DIR=${IJKONET_INCLUDE_DIR:-$ROOT/include}
# Programs linked with -lijkonet load it by its SONAME, libijkonet.so.MAJOR (build.rs).
if [ -f "$IJKONET_LIB_DIR/libijkonet.so" ] && [ ! -e "$IJKONET_LIB_DIR/libijkonet.so.0" ]; then
    ln -sfn libijkonet.so "$IJKONET_LIB_DIR/libijkonet.so.0"
fi
# No CRAN access here: do not insist on Suggests or look up remote package indexes.
export _R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
R CMD build "$ROOT/bindings/R/ijkonet" >build.log 2>&1 || { cat build.log; exit 1; }
if ! R CMD check --no-manual ijkonet_*.tar.gz >check.log 2>&1; then
    cat check.log; exit 1
fi
if grep -qE '^\* .*\.\.\. *(ERROR|WARNING)|^Status:.*(ERROR|WARNING)' check.log; then
    cat check.log; exit 1
fi
grep -E '^Status:' check.log | sed 's/^/R CMD check: /'

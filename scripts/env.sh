# Source this file (`. scripts/env.sh`) to provision libtorch and point cargo at it.
# Everything the Makefile runs goes through it, so a plain shell can do the same.
_ijk_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
LIBTORCH="$(bash "$_ijk_root/scripts/provision.sh")" || return 1 2>/dev/null || exit 1
export LIBTORCH
# The build links with an rpath to $LIBTORCH/lib, so nothing else is needed at run time.
unset _ijk_root

/* The header compiles as strict C11 with -Wall -Wextra -Wpedantic -Werror (see CMakeLists.txt). */
#include "ijkonet.h"

int main(void) { return ijk_abi_version() == IJKONET_ABI_VERSION ? 0 : 1; }

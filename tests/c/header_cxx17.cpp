// Both headers compile as C++17 with -Wall -Wextra -Wpedantic -Werror (see CMakeLists.txt).
#include "ijkonet.h"
#include "ijkonet.hpp"

#include <iostream>

int main() {
    if (!ijkonet::abi_compatible()) return 1;
    ijkonet::Config config;
    config.set("epochs", 2).set("energy_lr", 0.5).set("map_shared", false).set("device", "cpu");
    if (config.get("epochs") != "2" || config.get("map_shared") != "false") return 1;
    try {
        config.set("no_such_key", 1);
        return 1;
    } catch (const ijkonet::Error& e) {
        if (e.code() != IJK_ERR_INVALID_ARGUMENT || std::string(e.what()).find("no_such_key") == std::string::npos) return 1;
    }
    try {
        ijkonet::Model model(config);
        model.dim();  // not trained: throws
        return 1;
    } catch (const ijkonet::Error& e) {
        if (e.code() != IJK_ERR_STATE) return 1;
    }
    std::cout << "header_cxx17: ok (ijkonet " << ijkonet::version() << ")\n";
    return 0;
}

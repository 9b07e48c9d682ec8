// Both headers compile as C++17 with -Wall -Wextra -Wpedantic -Werror (see CMakeLists.txt).
#include "ijkonet.h"
#include "ijkonet.hpp"

#include <cmath>
#include <iostream>
#include <vector>

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
    // The naive baselines and the held-out evaluation through the wrapper, on a tiny trained model.
    {
        ijkonet::Config tiny;
        tiny.set("energy_hidden", "8").set("map_hidden", "8").set("batch_size", 8).set("epochs", 1);
        tiny.set("threads", 1).set("device", "cpu").set("seed", 3);
        ijkonet::Model model(tiny);
        const size_t n = 12, d = 2;
        std::vector<std::vector<double>> clouds(3, std::vector<double>(n * d));
        for (size_t k = 0; k < 3; k++) {
            for (size_t i = 0; i < n * d; i++) clouds[k][i] = 0.3 * k + 0.1 * double((i * 7 + k * 3) % 11);
            model.add_snapshot(double(k), clouds[k], d);
        }
        model.train(1);
        if (model.baseline_predict(IJK_BASELINE_NO_MOTION, 0, clouds[0], d) != clouds[0]) return 1;
        const ijkonet::StepEvaluation ev = model.evaluate_step(0, clouds[0], clouds[1], d);
        if (std::abs(ev.no_motion - ijkonet::w1(clouds[0], clouds[1], d)) > 1e-9) return 1;
        if (!(ev.best_baseline() <= ev.mean_shift) || !(ev.model_w1 >= 0)) return 1;
        try {
            model.baseline_predict(9, 0, clouds[0], d);
            return 1;
        } catch (const ijkonet::Error& e) {
            if (e.code() != IJK_ERR_INVALID_ARGUMENT) return 1;
        }
    }
    std::cout << "header_cxx17: ok (ijkonet " << ijkonet::version() << ")\n";
    return 0;
}

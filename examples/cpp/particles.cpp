// A small particle simulation driven by a learned potential, through the RAII wrapper ijkonet.hpp.
//
// 1. Generate unpaired snapshots of particles drifting down the well V(x) = |x - c|^2 / 2 (c = (1, -1)).
// 2. Learn the dynamics with iJKOnet.
// 3. Run our own Euler time loop x <- x - dt * grad V(x), asking the library for grad V every step,
//    and compare the learned drift with the true one, -(x - c).
//
//   ijk_example_cpp [epochs]
#include "ijkonet.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char** argv) {
    const int epochs = argc > 1 ? std::atoi(argv[1]) : 300;
    const size_t d = 2, n = 64;
    const double cx = 1.0, cy = -1.0;
    try {
        if (!ijkonet::abi_compatible()) {
            std::fprintf(stderr, "ijkonet.h does not match the loaded library\n");
            return 1;
        }
        ijkonet::Config config;
        config.set("energy_hidden", "16,16").set("map_hidden", "16,16").set("batch_size", 64);
        config.set("map_steps", 3).set("threads", 1).set("device", "cpu").set("seed", 1);
        ijkonet::Model model(config);

        // Snapshots at t = 0, 0.25, 0.5, 0.75: fresh particles each time (unpaired), exact OU solution.
        std::mt19937_64 rng(7);
        std::normal_distribution<double> normal(0.0, 1.0);
        for (int k = 0; k < 4; k++) {
            double t = 0.25 * k, decay = std::exp(-t);
            std::vector<double> cloud(n * d);
            for (size_t i = 0; i < n; i++) {
                cloud[i * d] = cx + (3.0 + 0.5 * normal(rng) - cx) * decay;
                cloud[i * d + 1] = cy + (2.0 + 0.5 * normal(rng) - cy) * decay;
            }
            model.add_snapshot(t, cloud, d);
        }
        // A C++ callable as progress callback (return true to stop); an exception thrown in it would
        // cancel training and be rethrown here.
        model.train(static_cast<uint64_t>(epochs), [](const ijk_progress& p) {
            if (p.epoch % 100 == 0) std::printf("epoch %llu: energy loss %.4g\n", (unsigned long long)p.epoch, p.energy_loss);
            return false;
        });
        std::printf("trained %d epochs; theta3 = %g\n", epochs, model.theta3());

        // Our own simulation loop: particles start spread around (2.5, 1.5).
        std::vector<double> x(n * d);
        for (size_t i = 0; i < n; i++) {
            x[i * d] = 2.5 + 0.3 * normal(rng);
            x[i * d + 1] = 1.5 + 0.3 * normal(rng);
        }
        const double dt = 0.05;
        for (int step = 0; step <= 20; step++) {
            std::vector<double> grad = model.grad_potential(x, d, step * dt);
            double mx = 0, my = 0, dot = 0, nl = 0, nt = 0;
            for (size_t i = 0; i < n; i++) {
                double tx = x[i * d] - cx, ty = x[i * d + 1] - cy;  // true grad V
                dot += grad[i * d] * tx + grad[i * d + 1] * ty;
                nl += grad[i * d] * grad[i * d] + grad[i * d + 1] * grad[i * d + 1];
                nt += tx * tx + ty * ty;
                mx += x[i * d] / n;
                my += x[i * d + 1] / n;
            }
            if (step % 5 == 0)
                std::printf("t=%.2f mean=(%.3f, %.3f) cos(learned, true grad V)=%.3f\n", step * dt, mx, my,
                            dot / std::sqrt(nl * nt + 1e-300));
            for (size_t i = 0; i < n * d; i++) x[i] -= dt * grad[i];
        }
    } catch (const ijkonet::Error& e) {
        std::fprintf(stderr, "ijkonet error %d: %s\n", e.code(), e.what());
        return 1;
    }
    return 0;
}

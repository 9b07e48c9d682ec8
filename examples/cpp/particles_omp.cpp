// A parallel particle code: OpenMP threads each drive their share of the particles with the learned
// drift -grad V, every thread through its own clone of the model (calls on one handle run one at a
// time; clones run in parallel). Prints the wall time per step for 1, 2 and 4 threads, checks that the
// parallel trajectories equal the serial ones, and compares grad V with the one-time-per-row query.
//
//   ijk_example_cpp_omp [particles] [steps] [epochs]
#include "ijkonet.hpp"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

// Euler steps x <- x - dt * grad V(x, t) for all particles, split over `threads` OpenMP threads, each
// with its own model clone. Returns seconds per step.
double run(const std::vector<ijkonet::Model>& clones, int threads, std::vector<double>& x, size_t d, int steps,
           double dt) {
    const size_t n = x.size() / d;
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; s++) {
        const double t = s * dt;
#pragma omp parallel num_threads(threads)
        {
            const int id = omp_get_thread_num(), count = omp_get_num_threads();
            const size_t lo = n * static_cast<size_t>(id) / static_cast<size_t>(count);
            const size_t hi = n * static_cast<size_t>(id + 1) / static_cast<size_t>(count);
            if (hi > lo) {
                std::vector<double> mine(x.begin() + static_cast<std::ptrdiff_t>(lo * d),
                                         x.begin() + static_cast<std::ptrdiff_t>(hi * d));
                // No exception may leave an OpenMP region: errors end the program with a message.
                try {
                    std::vector<double> g = clones[static_cast<size_t>(id)].grad_potential(mine, d, t);
                    for (size_t i = 0; i < mine.size(); i++) x[lo * d + i] = mine[i] - dt * g[i];
                } catch (const ijkonet::Error& e) {
#pragma omp critical
                    std::fprintf(stderr, "thread %d: ijkonet error %d: %s\n", id, e.code(), e.what());
                    std::abort();
                }
            }
        }
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    return elapsed.count() / steps;
}

}  // namespace

int main(int argc, char** argv) {
    const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
    const int steps = argc > 2 ? std::atoi(argv[2]) : 20;
    const int epochs = argc > 3 ? std::atoi(argv[3]) : 100;
    const size_t d = 2;
    const double cx = 1.0, cy = -1.0, dt = 0.02;
    try {
        if (!ijkonet::abi_compatible()) {
            std::fprintf(stderr, "ijkonet.h does not match the loaded library\n");
            return 1;
        }
        // Each query uses one libtorch thread: the parallelism is OpenMP's.
        ijkonet::Config config;
        config.set("energy_hidden", "32,32").set("map_hidden", "16,16").set("variant", "V");
        config.set("threads", 1).set("device", "cpu").set("seed", 3).set("validation", 0.0);
        ijkonet::Model model(config);
        std::mt19937_64 rng(11);
        std::normal_distribution<double> normal(0.0, 1.0);
        for (int k = 0; k < 4; k++) {
            const double t = 0.25 * k, decay = std::exp(-t);
            std::vector<double> cloud(200 * d);
            for (size_t i = 0; i < 200; i++) {
                cloud[i * d] = cx + (3.0 + 0.5 * normal(rng) - cx) * decay;
                cloud[i * d + 1] = cy + (2.0 + 0.5 * normal(rng) - cy) * decay;
            }
            model.add_snapshot(t, cloud, d);
        }
        model.train(static_cast<uint64_t>(epochs));
        // Queries from OpenMP threads: each uses one libtorch thread (training applied the model's
        // `threads` = 1 already; a loaded model would leave the host's setting, so set it here).
        ijkonet::set_num_threads(1);
        std::printf("%s (%s), %llu epochs; %zu particles, %d steps\n", model.method().c_str(), model.variant().c_str(),
                    static_cast<unsigned long long>(model.epochs_done()), n, steps);

        std::vector<double> x0(n * d);
        for (size_t i = 0; i < n; i++) {
            x0[i * d] = 2.5 + normal(rng);
            x0[i * d + 1] = 1.5 + normal(rng);
        }
        // The one-time-per-row query agrees with the single-time query at a common time.
        const std::vector<double> t_rows(n, 0.1);
        const std::vector<double> g1 = model.grad_potential(x0, d, 0.1), g2 = model.grad_potential_rows(x0, d, t_rows);
        double diff = 0;
        for (size_t i = 0; i < g1.size(); i++) diff = std::fmax(diff, std::fabs(g1[i] - g2[i]));
        std::printf("max |grad V(x, t) - grad V rows(x, t)| = %.3g\n", diff);
        if (diff > 1e-9) return 1;

        // Warm-up (allocator, caches, libtorch's lazy initialisation), not timed.
        {
            std::vector<ijkonet::Model> warm;
            for (int i = 0; i < 4; i++) warm.push_back(model.clone());
            std::vector<double> x = x0;
            run(warm, 4, x, d, 2, dt);
            x = x0;
            run(warm, 1, x, d, 2, dt);
        }
        std::vector<double> serial;
        double t1 = 0;
        for (int threads : {1, 2, 4}) {
            std::vector<ijkonet::Model> clones;
            for (int i = 0; i < threads; i++) clones.push_back(model.clone());
            std::vector<double> x = x0;
            const double per_step = run(clones, threads, x, d, steps, dt);
            if (threads == 1) {
                serial = x;
                t1 = per_step;
            }
            double worst = 0;
            for (size_t i = 0; i < x.size(); i++) worst = std::fmax(worst, std::fabs(x[i] - serial[i]));
            std::printf("%d thread(s): %.2f ms per step, speed-up %.2fx, max deviation from 1 thread %.2g\n", threads,
                        1e3 * per_step, t1 / per_step, worst);
            // Rows are computed independently, but a batch's size can change float rounding.
            if (worst > 1e-6) return 1;
        }
    } catch (const ijkonet::Error& e) {
        std::fprintf(stderr, "ijkonet error %d: %s\n", e.code(), e.what());
        return 1;
    }
    return 0;
}

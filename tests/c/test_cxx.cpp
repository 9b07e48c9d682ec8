// Tests of the C++ wrapper ijkonet.hpp beyond compiling: flat buffers that are not whole rows,
// C++ callables as training callbacks (exceptions cancel training and are rethrown), and
// Model::load on a chosen device.
#include "ijkonet.hpp"

#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

static int failures = 0;

#define EXPECT(cond)                                                                 \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

// `call` must throw ijkonet::Error with `code` and a message containing `needle`.
template <class F>
static void expect_error(int line, int32_t code, const std::string& needle, F&& call) {
    try {
        call();
        std::fprintf(stderr, "%s:%d: no exception, expected code %d\n", __FILE__, line, (int)code);
        failures++;
    } catch (const ijkonet::Error& e) {
        if (e.code() != code || std::string(e.what()).find(needle) == std::string::npos) {
            std::fprintf(stderr, "%s:%d: Error %d '%s', expected %d containing '%s'\n", __FILE__, line, (int)e.code(),
                         e.what(), (int)code, needle.c_str());
            failures++;
        }
    }
}
#define EXPECT_ERROR(code, needle, ...) expect_error(__LINE__, code, needle, [&] { __VA_ARGS__; })

static const size_t n = 12, d = 2;

static ijkonet::Model tiny_model_with_data() {
    ijkonet::Config tiny;
    tiny.set("energy_hidden", "8").set("map_hidden", "8").set("batch_size", 8).set("map_steps", 2);
    tiny.set("threads", 1).set("device", "cpu").set("seed", 3);
    ijkonet::Model model(tiny);
    for (size_t k = 0; k < 3; k++) {
        std::vector<double> cloud(n * d);
        for (size_t i = 0; i < n * d; i++) cloud[i] = 0.3 * k + 0.1 * double((i * 7 + k * 3) % 11);
        model.add_snapshot(double(k), cloud, d);
    }
    return model;
}

// A buffer whose size is not a multiple of d is refused by every method taking a flat buffer (before,
// `size / d` rows were passed and the partial row silently dropped).
static void partial_rows_are_refused(ijkonet::Model& trained) {
    const std::vector<double> good(4 * d, 0.5), bad(4 * d + 1, 0.5);
    const std::string msg = "not a whole number of rows";
    {
        ijkonet::Model fresh = tiny_model_with_data();
        EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, fresh.add_snapshot(5.0, bad, d));
        EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, "dimension d must be positive", fresh.add_snapshot(5.0, good, 0));
    }
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, trained.potential(bad, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, trained.grad_potential(bad, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, trained.predict_step(0, bad, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, trained.baseline_predict(IJK_BASELINE_NO_MOTION, 0, bad, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, trained.evaluate_step(0, bad, good, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, trained.evaluate_step(0, good, bad, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, ijkonet::w1(bad, good, d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, msg, ijkonet::w1(good, bad, d));
    // Whole rows still work.
    EXPECT(trained.potential(good, d).size() == 4);
    EXPECT(trained.grad_potential(good, d).size() == good.size());
    EXPECT(ijkonet::w1(good, good, d) == 0.0);
}

struct CallbackFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

static void callable_callbacks() {
    ijkonet::Model model = tiny_model_with_data();
    // A lambda with state: sees every epoch, in order, with the struct's size.
    std::vector<uint64_t> seen;
    model.train(2, [&](const ijk_progress& p) {
        EXPECT(p.struct_size == sizeof(ijk_progress));
        EXPECT(p.epochs == 2);
        seen.push_back(p.epoch);
        return false;
    });
    EXPECT((seen == std::vector<uint64_t>{1, 2}));

    // An exception from the callable cancels training after that epoch and comes back unchanged.
    int calls = 0;
    try {
        model.train(5, [&](const ijk_progress&) -> bool {
            calls++;
            throw CallbackFailure("my callback failed");
        });
        EXPECT(!"train returned");
    } catch (const CallbackFailure& e) {
        EXPECT(std::string(e.what()) == "my callback failed");
    } catch (...) {
        EXPECT(!"another exception type");
    }
    EXPECT(calls == 1);

    // Returning true cancels with IJK_ERR_CANCELLED; the model keeps working afterwards.
    EXPECT_ERROR(IJK_ERR_CANCELLED, "", model.train(5, [](const ijk_progress&) { return true; }));
    // std::function and a const callable go through the same overload.
    int counted = 0;
    const std::function<bool(const ijk_progress&)> count = [&](const ijk_progress&) {
        counted++;
        return false;
    };
    model.train(1, count);
    EXPECT(counted == 1);
    // The C callback overload is still there (nullptr: no callback).
    model.train(1, nullptr);
    EXPECT(model.dim() == d);
}

static void load_on_a_device(ijkonet::Model& trained) {
    const std::string path = "test_cxx_model.safetensors";
    trained.save(path);
    const std::vector<double> x(6 * d, 0.25);
    const std::vector<double> expected = trained.predict_step(0, x, d);
    ijkonet::Model on_cpu = ijkonet::Model::load(path, "cpu");
    EXPECT(on_cpu.dim() == d);
    EXPECT(on_cpu.predict_step(0, x, d) == expected);
    ijkonet::Model saved_device = ijkonet::Model::load(path);
    EXPECT(saved_device.predict_step(0, x, d) == expected);
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, "tpu", ijkonet::Model::load(path, "tpu"));
    std::remove(path.c_str());
}

// The rest of the C API through the wrapper: state, config, info, times, clone, rollout, predict_at,
// simulate, per-row times and the interaction field's error for a variant without W.
static void full_surface(ijkonet::Model& trained) {
    const std::vector<double> x(5 * d, 0.4);
    EXPECT(trained.state() == IJK_MODEL_TRAINED);
    EXPECT(trained.config().get("seed") == "3");
    EXPECT(trained.method() == "ijkonet");
    EXPECT(!trained.variant().empty() && trained.variant() != "auto");
    EXPECT(trained.info("device") == "cpu");
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, "unknown model info key", trained.info("colour"));
    EXPECT(trained.epochs_done() == 1);
    const std::vector<double> times = trained.times();
    EXPECT(times.size() == 3 && times[0] == 0.0 && times[2] == 2.0);

    ijkonet::Model copy = trained.clone();
    EXPECT(copy.state() == IJK_MODEL_LOADED);
    EXPECT(copy.grad_potential(x, d, 0.5) == trained.grad_potential(x, d, 0.5));
    EXPECT(copy.predict_step(1, x, d) == trained.predict_step(1, x, d));

    const auto clouds = trained.rollout(0, 2, x, d);
    EXPECT(clouds.size() == 2 && clouds[0] == trained.predict_step(0, x, d));
    EXPECT(clouds[1] == trained.predict_step(1, clouds[0], d));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, "roll out", trained.rollout(1, 2, x, d));
    EXPECT(trained.predict_at(x, d, 0.0, 1.0) == clouds[0]);

    const auto path = trained.simulate(x, d, 0.0, 0.01, 4, 7);
    EXPECT(path.size() == 5 && path[0] == x && path[4].size() == x.size());
    EXPECT(trained.simulate(x, d, 0.0, 0.01, 4, 7) == path);

    const std::vector<double> t_rows(5, 0.5);
    EXPECT(trained.grad_potential_rows(x, d, t_rows) == trained.grad_potential(x, d, 0.5));
    EXPECT(trained.potential_rows(x, d, t_rows) == trained.potential(x, d, 0.5));
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, "times for 5 rows", trained.grad_potential_rows(x, d, {0.5, 0.5}));
    EXPECT_ERROR(IJK_ERR_STATE, "interaction", trained.interaction_field(x, x, d));

    ijkonet::set_num_threads(2);
    EXPECT(ijkonet::num_threads() == 2);
    EXPECT_ERROR(IJK_ERR_INVALID_ARGUMENT, "thread count", ijkonet::set_num_threads(0));
    ijkonet::set_num_threads(1);
}

int main() {
    if (!ijkonet::abi_compatible()) {
        std::fprintf(stderr, "ijkonet.hpp does not match the loaded library\n");
        return 1;
    }
    try {
        ijkonet::Model trained = tiny_model_with_data();
        trained.train(1);
        partial_rows_are_refused(trained);
        callable_callbacks();
        load_on_a_device(trained);
        full_surface(trained);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        return 1;
    }
    if (failures) {
        std::fprintf(stderr, "test_cxx: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_cxx: ok\n");
    return 0;
}

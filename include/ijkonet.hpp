// ijkonet.hpp - header-only C++17 RAII wrapper over the C ABI in ijkonet.h.
// Handles own their C objects (destructors free them; move-only); every failing call throws
// ijkonet::Error carrying the status code and the library's message. Thread safety as in ijkonet.h.
#ifndef IJKONET_HPP
#define IJKONET_HPP

#include "ijkonet.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ijkonet {

/// A failed library call: `code()` is the IJK_ERR_* status, `what()` the message.
class Error : public std::runtime_error {
public:
    Error(int32_t code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int32_t code() const noexcept { return code_; }

private:
    int32_t code_;
};

namespace detail {
/// Throw when a call failed, taking the message from the error object (freed here).
inline void check(int32_t status, ijk_error* err) {
    if (status == IJK_OK) return;
    std::string message = err ? ijk_error_message(err) : ijk_last_error_message();
    ijk_error_free(err);
    throw Error(status, message);
}
/// The number of rows n of a flat row-major n x d buffer. A size that is not a multiple of d (or
/// d = 0) is refused: dividing would silently drop a partial row.
inline size_t rows(const std::vector<double>& values, size_t d, const char* what) {
    if (d == 0) throw Error(IJK_ERR_INVALID_ARGUMENT, std::string(what) + ": the dimension d must be positive");
    if (values.size() % d != 0) {
        throw Error(IJK_ERR_INVALID_ARGUMENT, std::string(what) + ": " + std::to_string(values.size()) +
                                                  " values are not a whole number of rows of dimension " +
                                                  std::to_string(d));
    }
    return values.size() / d;
}

/// One value per row: a vector of n values, or an error that says what it has.
inline void same_rows(const std::vector<double>& values, size_t n, const char* what) {
    if (values.size() != n) {
        throw Error(IJK_ERR_INVALID_ARGUMENT, std::string(what) + ": " + std::to_string(values.size()) +
                                                  " times for " + std::to_string(n) + " rows");
    }
}
/// `count` consecutive blocks of `block` values.
inline std::vector<std::vector<double>> split(const std::vector<double>& flat, size_t count, size_t block) {
    std::vector<std::vector<double>> out(count);
    for (size_t i = 0; i < count; ++i) {
        out[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(i * block),
                      flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * block));
    }
    return out;
}

/// State of a C++ progress callback during ijk_model_train.
template <class F>
struct ProgressState {
    F* callback;
    std::exception_ptr error;
};

/// The C callback given to the library: it must not unwind through the library's frames, so an
/// exception from the user's callable is stored, training is cancelled, and Model::train rethrows it.
template <class F>
int32_t progress_trampoline(const ijk_progress* p, void* user_data) noexcept {
    auto* state = static_cast<ProgressState<F>*>(user_data);
    try {
        // Copy only the bytes the library filled (struct_size): a library with a smaller struct
        // leaves the newer fields zero instead of being read past its end.
        ijk_progress progress{};
        std::memcpy(&progress, p, p->struct_size < sizeof progress ? p->struct_size : sizeof progress);
        return (*state->callback)(static_cast<const ijk_progress&>(progress)) ? 1 : 0;
    } catch (...) {
        state->error = std::current_exception();
        return 1;
    }
}

struct ConfigDeleter {
    void operator()(ijk_config* c) const noexcept { ijk_config_free(c); }
};
struct ModelDeleter {
    void operator()(ijk_model* m) const noexcept { ijk_model_free(m); }
};
}  // namespace detail

/// Library version string ("MAJOR.MINOR.PATCH").
inline std::string version() { return ijk_version(); }

/// Set libtorch's process-wide intra-op thread count (1 ≤ n ≤ 1024; see ijk_set_num_threads).
inline void set_num_threads(int n) {
    ijk_error* e = nullptr;
    detail::check(ijk_set_num_threads(n, &e), e);
}
inline int num_threads() noexcept { return ijk_get_num_threads(); }

/// True when the loaded library has the ABI of this header.
inline bool abi_compatible() noexcept { return ijk_abi_version() == IJKONET_ABI_VERSION; }

/// Training options by key (see ijk_config_set_str for the keys).
class Config {
public:
    Config() {
        ijk_config* c = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_config_new(&c, &e), e);
        handle_.reset(c);
    }
    explicit Config(ijk_config* owned) : handle_(owned) {}

    Config& set(const std::string& key, const std::string& value) {
        ijk_error* e = nullptr;
        detail::check(ijk_config_set_str(handle_.get(), key.c_str(), value.c_str(), &e), e);
        return *this;
    }
    Config& set(const std::string& key, const char* value) { return set(key, std::string(value)); }
    Config& set(const std::string& key, int64_t value) {
        ijk_error* e = nullptr;
        detail::check(ijk_config_set_int(handle_.get(), key.c_str(), value, &e), e);
        return *this;
    }
    Config& set(const std::string& key, int value) { return set(key, static_cast<int64_t>(value)); }
    Config& set(const std::string& key, double value) {
        ijk_error* e = nullptr;
        detail::check(ijk_config_set_double(handle_.get(), key.c_str(), value, &e), e);
        return *this;
    }
    Config& set(const std::string& key, bool value) {
        ijk_error* e = nullptr;
        detail::check(ijk_config_set_bool(handle_.get(), key.c_str(), value, &e), e);
        return *this;
    }
    std::string get(const std::string& key) const {
        size_t needed = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_config_get(handle_.get(), key.c_str(), nullptr, 0, &needed, &e), e);
        std::string value(needed, '\0');
        detail::check(ijk_config_get(handle_.get(), key.c_str(), value.data(), value.size(), &needed, &e), e);
        value.resize(needed - 1);
        return value;
    }
    const ijk_config* get() const noexcept { return handle_.get(); }

private:
    std::unique_ptr<ijk_config, detail::ConfigDeleter> handle_;
};

/// Row-major n x d points.
struct Points {
    std::vector<double> values;
    size_t n = 0;
    size_t d = 0;
};

/// Held-out W1 of one step (ijk_model_evaluate_step): the model's one-step prediction and the three
/// naive predictions, each against the observed next snapshot.
struct StepEvaluation {
    double model_w1 = 0;
    double no_motion = 0;
    double mean_shift = 0;
    double affine_ot = 0;
    /// The smallest W1 of the naive predictions.
    double best_baseline() const noexcept {
        double best = no_motion < mean_shift ? no_motion : mean_shift;
        return best < affine_ot ? best : affine_ot;
    }
    /// True when the model predicts the step better than every naive prediction.
    bool model_wins() const noexcept { return model_w1 < best_baseline(); }
};

/// A learned model: add snapshots, train, query.
class Model {
public:
    explicit Model(const Config& config) {
        ijk_model* m = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_model_new(config.get(), &m, &e), e);
        handle_.reset(m);
    }
    /// Load a saved model on the device it was saved from (CPU when that CUDA device is missing).
    static Model load(const std::string& path) {
        ijk_model* m = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_model_load_on(path.c_str(), nullptr, &m, &e), e);
        return Model(m);
    }
    /// Load a saved model on `device`: "auto", "cpu", "cuda" or "cuda:N" (anything else throws
    /// IJK_ERR_INVALID_ARGUMENT).
    static Model load(const std::string& path, const std::string& device) {
        ijk_model* m = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_model_load_on(path.c_str(), device.c_str(), &m, &e), e);
        return Model(m);
    }

    /// Add a snapshot of n x d row-major values (values.size() must be a multiple of d).
    void add_snapshot(double time, const std::vector<double>& values, size_t d) {
        const size_t n = detail::rows(values, d, "add_snapshot");
        ijk_error* e = nullptr;
        detail::check(ijk_model_add_snapshot_f64(handle_.get(), time, values.data(), n, d, &e), e);
    }
    /// One energy update with its map updates; returns (energy loss, map loss).
    std::pair<double, double> train_step() {
        double el = 0, ml = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_train_step(handle_.get(), &el, &ml, &e), e);
        return {el, ml};
    }
    /// Train `epochs` epochs (0 = the configured number) with an optional C callback, which must not
    /// throw or longjmp (see ijk_progress_fn).
    void train(uint64_t epochs, ijk_progress_fn callback = nullptr, void* user_data = nullptr) {
        ijk_error* e = nullptr;
        detail::check(ijk_model_train(handle_.get(), epochs, callback, user_data, &e), e);
    }
    /// Train `epochs` epochs calling `callback(const ijk_progress&)` after each; it returns true to
    /// cancel (Error with IJK_ERR_CANCELLED). An exception thrown by the callback cancels training
    /// (the epochs completed are kept) and is rethrown from here once the library has returned.
    template <class F, class = std::enable_if_t<std::is_invocable_r_v<bool, F&, const ijk_progress&>>>
    void train(uint64_t epochs, F&& callback) {
        using Fn = std::remove_reference_t<F>;
        detail::ProgressState<Fn> state{&callback, nullptr};
        ijk_error* e = nullptr;
        const int32_t status =
            ijk_model_train(handle_.get(), epochs, &detail::progress_trampoline<Fn>, &state, &e);
        if (state.error) {
            ijk_error_free(e);  // the library's "cancelled" error: the callback's exception says why
            std::rethrow_exception(state.error);
        }
        detail::check(status, e);
    }
    size_t dim() const {
        size_t d = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_dim(handle_.get(), &d, &e), e);
        return d;
    }
    double theta3() const {
        double t = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_theta3(handle_.get(), &t, &e), e);
        return t;
    }
    /// ∇V(x, t) at n points of dimension d (n x d values).
    std::vector<double> grad_potential(const std::vector<double>& x, size_t d, double t = 0.0) const {
        const size_t n = detail::rows(x, d, "grad_potential");
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_grad_potential(handle_.get(), x.data(), n, d, t, out.data(),
                                               out.size(), &e),
                      e);
        return out;
    }
    /// V(x, t) at n points (n values).
    std::vector<double> potential(const std::vector<double>& x, size_t d, double t = 0.0) const {
        const size_t n = detail::rows(x, d, "potential");
        std::vector<double> out(n);
        ijk_error* e = nullptr;
        detail::check(ijk_model_potential(handle_.get(), x.data(), n, d, t, out.data(), out.size(), &e), e);
        return out;
    }
    /// One-step prediction through the map of step k.
    std::vector<double> predict_step(size_t k, const std::vector<double>& x, size_t d) const {
        const size_t n = detail::rows(x, d, "predict_step");
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_predict_step(handle_.get(), k, x.data(), n, d, out.data(),
                                             out.size(), &e),
                      e);
        return out;
    }
    /// Naive one-step prediction of snapshot k+1 (baseline: IJK_BASELINE_NO_MOTION,
    /// IJK_BASELINE_MEAN_SHIFT or IJK_BASELINE_AFFINE_OT).
    std::vector<double> baseline_predict(int32_t baseline, size_t k, const std::vector<double>& x, size_t d) const {
        const size_t n = detail::rows(x, d, "baseline_predict");
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_baseline_predict(handle_.get(), baseline, k, x.data(), n, d,
                                                 out.data(), out.size(), &e),
                      e);
        return out;
    }
    /// Held-out evaluation of step k: points `x_k` of snapshot k against `x_next` of snapshot k+1.
    StepEvaluation evaluate_step(size_t k, const std::vector<double>& x_k, const std::vector<double>& x_next,
                                 size_t d) const {
        const size_t n = detail::rows(x_k, d, "evaluate_step (x_k)");
        const size_t m = detail::rows(x_next, d, "evaluate_step (x_next)");
        double out[IJK_EVALUATE_STEP_LEN] = {0};
        ijk_error* e = nullptr;
        detail::check(ijk_model_evaluate_step(handle_.get(), k, x_k.data(), n, x_next.data(), m, d, out,
                                              IJK_EVALUATE_STEP_LEN, &e),
                      e);
        StepEvaluation r;
        r.model_w1 = out[0];
        r.no_motion = out[1];
        r.mean_shift = out[2];
        r.affine_ot = out[3];
        return r;
    }
    /// An independent copy of the current parameters (LOADED: queryable, not trainable). Calls on one
    /// handle run one at a time: give each thread of a parallel particle loop its own clone.
    Model clone() const {
        ijk_model* m = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_model_clone(handle_.get(), &m, &e), e);
        return Model(m);
    }
    /// IJK_MODEL_COLLECTING, IJK_MODEL_TRAINED, IJK_MODEL_FAILED or IJK_MODEL_LOADED.
    int32_t state() const {
        int32_t s = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_state(handle_.get(), &s, &e), e);
        return s;
    }
    /// A copy of the configuration the model was created (or trained) with.
    Config config() const {
        ijk_config* c = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_model_config(handle_.get(), &c, &e), e);
        return Config(c);
    }
    /// "method", "variant", "device" or "normalisation" (see ijk_model_info).
    std::string info(const std::string& key) const {
        size_t needed = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_info(handle_.get(), key.c_str(), nullptr, 0, &needed, &e), e);
        std::string value(needed, '\0');
        detail::check(ijk_model_info(handle_.get(), key.c_str(), value.data(), value.size(), &needed, &e), e);
        value.resize(needed - 1);
        return value;
    }
    std::string method() const { return info("method"); }
    std::string variant() const { return info("variant"); }
    uint64_t epochs_done() const {
        uint64_t n = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_epochs_done(handle_.get(), &n, &e), e);
        return n;
    }
    /// The snapshot times the model was trained on, sorted.
    std::vector<double> times() const {
        size_t k = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_num_times(handle_.get(), &k, &e), e);
        std::vector<double> out(k);
        detail::check(ijk_model_times(handle_.get(), out.data(), out.size(), &e), e);
        return out;
    }
    /// ∇V(x_i, t_i) with one time per row (t.size() == n).
    std::vector<double> grad_potential_rows(const std::vector<double>& x, size_t d, const std::vector<double>& t) const {
        const size_t n = detail::rows(x, d, "grad_potential_rows");
        detail::same_rows(t, n, "grad_potential_rows");
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_grad_potential_rows(handle_.get(), x.data(), n, d, t.data(), out.data(), out.size(), &e),
                      e);
        return out;
    }
    /// V(x_i, t_i) with one time per row (t.size() == n).
    std::vector<double> potential_rows(const std::vector<double>& x, size_t d, const std::vector<double>& t) const {
        const size_t n = detail::rows(x, d, "potential_rows");
        detail::same_rows(t, n, "potential_rows");
        std::vector<double> out(n);
        ijk_error* e = nullptr;
        detail::check(ijk_model_potential_rows(handle_.get(), x.data(), n, d, t.data(), out.data(), out.size(), &e), e);
        return out;
    }
    /// The clouds predicted at t_{from+1}, ..., t_{from+steps} by chaining the learned steps.
    std::vector<std::vector<double>> rollout(size_t from, size_t steps, const std::vector<double>& x, size_t d) const {
        const size_t n = detail::rows(x, d, "rollout");
        size_t len = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_rollout_len(n, d, steps, &len, &e), e);
        std::vector<double> flat(len);
        detail::check(ijk_model_rollout(handle_.get(), from, steps, x.data(), n, d, flat.data(), flat.size(), &e), e);
        return detail::split(flat, steps, n * d);
    }
    /// The population at time t_to predicted from points observed at t_from.
    std::vector<double> predict_at(const std::vector<double>& x, size_t d, double t_from, double t_to) const {
        const size_t n = detail::rows(x, d, "predict_at");
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_predict_at(handle_.get(), x.data(), n, d, t_from, t_to, out.data(), out.size(), &e), e);
        return out;
    }
    /// Euler–Maruyama simulation of the learned SDE: n_steps + 1 clouds, x0 first.
    std::vector<std::vector<double>> simulate(const std::vector<double>& x0, size_t d, double t0, double dt,
                                              size_t n_steps, uint64_t seed = 0) const {
        const size_t n = detail::rows(x0, d, "simulate");
        size_t len = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_simulate_len(n, d, n_steps, &len, &e), e);
        std::vector<double> flat(len);
        detail::check(ijk_model_simulate(handle_.get(), x0.data(), n, d, t0, dt, n_steps, seed, flat.data(),
                                         flat.size(), &e),
                      e);
        return detail::split(flat, n_steps + 1, n * d);
    }
    /// (∇W ∗ ρ)(x_i) over the population `population` (both of dimension d).
    std::vector<double> interaction_field(const std::vector<double>& x, const std::vector<double>& population,
                                          size_t d) const {
        const size_t n = detail::rows(x, d, "interaction_field");
        const size_t m = detail::rows(population, d, "interaction_field (population)");
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_interaction_field(handle_.get(), x.data(), n, population.data(), m, d, out.data(),
                                                  out.size(), &e),
                      e);
        return out;
    }
    void save(const std::string& path) const {
        ijk_error* e = nullptr;
        detail::check(ijk_model_save(handle_.get(), path.c_str(), &e), e);
    }
    ijk_model* get() const noexcept { return handle_.get(); }

private:
    explicit Model(ijk_model* owned) : handle_(owned) {}
    std::unique_ptr<ijk_model, detail::ModelDeleter> handle_;
};

/// Exact W1 distance between two clouds of dimension d.
inline double w1(const std::vector<double>& x, const std::vector<double>& y, size_t d) {
    const size_t n = detail::rows(x, d, "w1 (x)");
    const size_t m = detail::rows(y, d, "w1 (y)");
    double out = 0;
    ijk_error* e = nullptr;
    detail::check(ijk_metric_w1(x.data(), n, y.data(), m, d, &out, &e), e);
    return out;
}

}  // namespace ijkonet

#endif  // IJKONET_HPP

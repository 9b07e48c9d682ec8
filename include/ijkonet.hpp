// ijkonet.hpp - header-only C++17 RAII wrapper over the C ABI in ijkonet.h.
// Handles own their C objects (destructors free them; move-only); every failing call throws
// ijkonet::Error carrying the status code and the library's message. Thread safety as in ijkonet.h.
#ifndef IJKONET_HPP
#define IJKONET_HPP

#include "ijkonet.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
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
struct ConfigDeleter {
    void operator()(ijk_config* c) const noexcept { ijk_config_free(c); }
};
struct ModelDeleter {
    void operator()(ijk_model* m) const noexcept { ijk_model_free(m); }
};
}  // namespace detail

/// Library version string ("MAJOR.MINOR.PATCH").
inline std::string version() { return ijk_version(); }

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
    static Model load(const std::string& path) {
        ijk_model* m = nullptr;
        ijk_error* e = nullptr;
        detail::check(ijk_model_load(path.c_str(), &m, &e), e);
        return Model(m);
    }

    void add_snapshot(double time, const std::vector<double>& values, size_t d) {
        ijk_error* e = nullptr;
        detail::check(ijk_model_add_snapshot_f64(handle_.get(), time, values.data(), d ? values.size() / d : 0, d, &e), e);
    }
    /// One energy update with its map updates; returns (energy loss, map loss).
    std::pair<double, double> train_step() {
        double el = 0, ml = 0;
        ijk_error* e = nullptr;
        detail::check(ijk_model_train_step(handle_.get(), &el, &ml, &e), e);
        return {el, ml};
    }
    /// Train `epochs` epochs (0 = the configured number).
    void train(uint64_t epochs, ijk_progress_fn callback = nullptr, void* user_data = nullptr) {
        ijk_error* e = nullptr;
        detail::check(ijk_model_train(handle_.get(), epochs, callback, user_data, &e), e);
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
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_grad_potential(handle_.get(), x.data(), d ? x.size() / d : 0, d, t, out.data(),
                                               out.size(), &e),
                      e);
        return out;
    }
    /// V(x, t) at n points (n values).
    std::vector<double> potential(const std::vector<double>& x, size_t d, double t = 0.0) const {
        size_t n = d ? x.size() / d : 0;
        std::vector<double> out(n);
        ijk_error* e = nullptr;
        detail::check(ijk_model_potential(handle_.get(), x.data(), n, d, t, out.data(), out.size(), &e), e);
        return out;
    }
    /// One-step prediction through the map of step k.
    std::vector<double> predict_step(size_t k, const std::vector<double>& x, size_t d) const {
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_predict_step(handle_.get(), k, x.data(), d ? x.size() / d : 0, d, out.data(),
                                             out.size(), &e),
                      e);
        return out;
    }
    /// Naive one-step prediction of snapshot k+1 (baseline: IJK_BASELINE_NO_MOTION,
    /// IJK_BASELINE_MEAN_SHIFT or IJK_BASELINE_AFFINE_OT).
    std::vector<double> baseline_predict(int32_t baseline, size_t k, const std::vector<double>& x, size_t d) const {
        std::vector<double> out(x.size());
        ijk_error* e = nullptr;
        detail::check(ijk_model_baseline_predict(handle_.get(), baseline, k, x.data(), d ? x.size() / d : 0, d,
                                                 out.data(), out.size(), &e),
                      e);
        return out;
    }
    /// Held-out evaluation of step k: points `x_k` of snapshot k against `x_next` of snapshot k+1.
    StepEvaluation evaluate_step(size_t k, const std::vector<double>& x_k, const std::vector<double>& x_next,
                                 size_t d) const {
        double out[IJK_EVALUATE_STEP_LEN] = {0};
        ijk_error* e = nullptr;
        detail::check(ijk_model_evaluate_step(handle_.get(), k, x_k.data(), d ? x_k.size() / d : 0, x_next.data(),
                                              d ? x_next.size() / d : 0, d, out, IJK_EVALUATE_STEP_LEN, &e),
                      e);
        StepEvaluation r;
        r.model_w1 = out[0];
        r.no_motion = out[1];
        r.mean_shift = out[2];
        r.affine_ot = out[3];
        return r;
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
    double out = 0;
    ijk_error* e = nullptr;
    detail::check(ijk_metric_w1(x.data(), d ? x.size() / d : 0, y.data(), d ? y.size() / d : 0, d, &out, &e), e);
    return out;
}

}  // namespace ijkonet

#endif  // IJKONET_HPP

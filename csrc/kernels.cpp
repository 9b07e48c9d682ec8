// The crate's C++ kernels (src/kernels.rs is their only caller). First JKOnet*'s training step for
// an MLP potential on the CPU, as one call. The loss is L = Σ ω_i ‖τ_i ∇ₓV(y_i) + (y_i − x_i)‖² with
// ω = w / Σw; the call returns L and writes ∂L/∂θ into the gradient vector. It is the arithmetic of
// Mlp::input_gradient_tape and InputGradientTape::parameter_vjp_into (src/nn.rs), with two
// differences that make it ≈ 2× faster:
// the matrix products go straight to ATen (MKL) into buffers allocated once, and the elementwise
// work between them is fused into plain loops over those buffers (the libtorch operations each
// allocate, dispatch and walk the memory once: ≈ 70 of them per step on the tensor path).
// Softplus (the default activation) computes σ, σ′ and σ″ in one loop from one exponential, with
// its own branch-free exp and log1p (below; ≈ 1e-7 relative error, as float32 itself); the other
// activations take their transcendental from ATen's vectorised kernels. The loops are compiled for
// AVX-512, AVX2 and baseline x86-64, the best one picked at load time (GCC's target_clones).
// Adam on the flat parameter vector is libtorch's fused Adam, called here without tch's per-call cost.
//
// Errors never cross the C boundary as exceptions: every entry point catches and reports a message.

#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/tanh.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// Several builds of a loop, one per instruction set, chosen at load time by the CPU's features
// (GCC on x86-64; "arch=…" clones would match CPU models instead, and miss newer ones).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define IJK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
// Inlined into every clone (GCC will not inline a plain function into a clone of another target),
// so that the loops calling them vectorise.
#define IJK_INLINE __attribute__((always_inline)) inline
#else
#define IJK_CLONES
#define IJK_INLINE inline
#endif

namespace {

// e^x for x ≤ 0, branch-free (vectorises): x = n ln2 + r with |r| ≤ ln2/2, e^r by Cephes' degree-5
// polynomial (relative error ≈ 1e-7), 2^n from the exponent bits. Below −87 it returns e^−87 ≈ 1.6e-38.
IJK_INLINE float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float shift = 12582912.0f;  // 1.5 · 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shift) - shift;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return er * scale;
}

// log(1 + t) for t in [0, 1]: 2 atanh(u) with u = t / (2 + t) ≤ 1/3, its odd series to u¹⁵
// (truncation ≤ 1e-9).
IJK_INLINE float log1p_unit(float t) {
  const float u = t / (2.0f + t), u2 = u * u;
  float p = 1.0f / 15.0f;
  p = p * u2 + 1.0f / 13.0f;
  p = p * u2 + 1.0f / 11.0f;
  p = p * u2 + 1.0f / 9.0f;
  p = p * u2 + 1.0f / 7.0f;
  p = p * u2 + 1.0f / 5.0f;
  p = p * u2 + 1.0f / 3.0f;
  p = p * u2 + 1.0f;
  return 2.0f * u * p;
}

// Softplus at z, with σ′ = sigmoid and σ″ = σ′(1 − σ′), from e = e^−|z|:
// softplus = max(z, 0) + log1p(e), sigmoid = (z ≥ 0 ? 1 : e) / (1 + e). `out` may be NULL.
template <bool kWithOutput>
IJK_INLINE void softplus_loop(const float* z, float* out, float* slope, float* curve, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    const float x = z[i];
    const float e = exp_nonpositive(x < 0.0f ? x : -x);
    const float sig = (x >= 0.0f ? 1.0f : e) / (1.0f + e);
    slope[i] = sig;
    curve[i] = sig - sig * sig;
    if constexpr (kWithOutput) out[i] = (x > 0.0f ? x : 0.0f) + log1p_unit(e);
  }
}

IJK_CLONES void softplus_tape(const float* z, float* out, float* slope, float* curve, int64_t k) {
  if (out)
    softplus_loop<true>(z, out, slope, curve, k);
  else
    softplus_loop<false>(z, out, slope, curve, k);
}

// c[i, j] = row[j] · s[i, j] (row broadcast over n rows of width w), or c = v ⊙ s when row is NULL.
IJK_CLONES void chain_product(const float* row, const float* v, const float* s, float* c, int64_t n, int64_t w) {
  if (row) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) c[i * w + j] = row[j] * s[i * w + j];
  } else {
    for (int64_t k = 0; k < n * w; ++k) c[k] = v[k] * s[k];
  }
}

// dz = dc ⊙ v ⊙ q and dc ← dc ⊙ s, with v a broadcast row (row) or a matrix (v).
IJK_CLONES void chain_backward(const float* row, const float* v, const float* s, const float* q, float* dc, float* dz,
                               int64_t n, int64_t w) {
  if (row) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t k = i * w + j;
        dz[k] = dc[k] * row[j] * q[k];
        dc[k] *= s[k];
      }
  } else {
    for (int64_t k = 0; k < n * w; ++k) {
      dz[k] = dc[k] * v[k] * q[k];
      dc[k] *= s[k];
    }
  }
}

// out[j] = Σ_i m[i, j] (n rows of width w).
IJK_CLONES void column_sums(const float* m, float* out, int64_t n, int64_t w) {
  for (int64_t j = 0; j < w; ++j) out[j] = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < w; ++j) out[j] += m[i * w + j];
}

// dz += b ⊙ s.
IJK_CLONES void add_product(const float* b, const float* s, float* dz, int64_t k) {
  for (int64_t i = 0; i < k; ++i) dz[i] += b[i] * s[i];
}

// The activations, numbered as in src/kernels.rs.
enum Activation : int32_t { Softplus = 0, Selu = 1, Relu = 2, Tanh = 3, Silu = 4 };

constexpr float kSeluLambda = 1.0507009873554805f;
constexpr float kSeluAlpha = 1.6732632423543773f;

// Scratch buffers for one batch size (rows n), reallocated when the batch size changes.
struct Scratch {
  int64_t rows = -1;
  at::Tensor input;                 // n × D
  std::vector<at::Tensor> z;        // pre-activation per hidden layer, n × H_l
  std::vector<at::Tensor> h;        // activation per hidden layer but the last, n × H_l
  std::vector<at::Tensor> slope;    // σ′(z), n × H_l
  std::vector<at::Tensor> curve;    // σ″(z), n × H_l
  std::vector<at::Tensor> chain;    // c_l = v_{l+1} ⊙ σ′(z_l), n × H_l
  std::vector<at::Tensor> v;        // v_l = c_l W_l, n × H_{l−1} (v_0 = ∇ₓV)
  std::vector<at::Tensor> dz_slope; // the σ″ part of ∂L/∂z_l, n × H_l
  std::vector<at::Tensor> dc;       // ∂L/∂c_l, n × H_l (then ∂L/∂v_{l+1} in place)
  std::vector<at::Tensor> back;     // (∂L/∂z_l) W_l, n × H_{l−1}
  at::Tensor cotangent;             // ∂L/∂v_0, n × D
};

}  // namespace

struct IjkStarMlpStep {
  int32_t activation;
  std::vector<int64_t> widths;  // input, hidden…, output
  std::vector<at::Tensor> w, b, wt, gw, gb;
  Scratch s;

  size_t hidden() const { return widths.size() - 2; }

  void allocate(int64_t n) {
    auto opts = at::TensorOptions().dtype(at::kFloat).device(at::kCPU);
    auto mat = [&](int64_t r, int64_t c) { return at::empty({r, c}, opts); };
    const size_t m = hidden();
    Scratch t;
    t.rows = n;
    t.input = mat(n, widths[0]);
    t.cotangent = mat(n, widths[0]);
    for (size_t l = 0; l < m; ++l) {
      const int64_t hl = widths[l + 1], below = widths[l];
      t.z.push_back(mat(n, hl));
      t.h.push_back(l + 1 < m ? mat(n, hl) : at::Tensor());
      t.slope.push_back(mat(n, hl));
      t.curve.push_back(mat(n, hl));
      t.chain.push_back(mat(n, hl));
      t.v.push_back(mat(n, below));
      t.dz_slope.push_back(mat(n, hl));
      t.dc.push_back(mat(n, hl));
      t.back.push_back(mat(n, below));
    }
    s = std::move(t);
  }

  // σ(z) (when `out` is defined), σ′(z) and σ″(z), elementwise.
  void activate(const at::Tensor& z, at::Tensor& out, at::Tensor& slope, at::Tensor& curve) {
    const int64_t k = z.numel();
    const float* zp = z.const_data_ptr<float>();
    float* sp = slope.data_ptr<float>();
    float* qp = curve.data_ptr<float>();
    float* op = out.defined() ? out.data_ptr<float>() : nullptr;
    switch (activation) {
      case Softplus:
        softplus_tape(zp, op, sp, qp, k);
        break;
      case Selu: {
        at::exp_out(curve, z);  // eᶻ, overwritten below
        for (int64_t i = 0; i < k; ++i) {
          const float e = qp[i];
          const bool pos = zp[i] > 0.0f;
          const float neg = pos ? 0.0f : e * (kSeluAlpha * kSeluLambda);
          sp[i] = pos ? kSeluLambda : neg;
          qp[i] = neg;
          if (op) op[i] = pos ? kSeluLambda * zp[i] : kSeluLambda * kSeluAlpha * (e - 1.0f);
        }
        break;
      }
      case Relu: {
        for (int64_t i = 0; i < k; ++i) {
          const bool pos = zp[i] > 0.0f;
          sp[i] = pos ? 1.0f : 0.0f;
          qp[i] = 0.0f;
          if (op) op[i] = pos ? zp[i] : 0.0f;
        }
        break;
      }
      case Tanh: {
        at::tanh_out(curve, z);  // tanh z, overwritten below
        for (int64_t i = 0; i < k; ++i) {
          const float t = qp[i];
          const float d = 1.0f - t * t;
          sp[i] = d;
          qp[i] = -2.0f * d * t;
          if (op) op[i] = t;
        }
        break;
      }
      case Silu: {
        at::sigmoid_out(curve, z);  // σ(z), overwritten below
        for (int64_t i = 0; i < k; ++i) {
          const float sig = qp[i], x = zp[i];
          const float var = sig - sig * sig;
          sp[i] = sig + x * var;
          qp[i] = var * (x * (1.0f - 2.0f * sig) + 2.0f);
          if (op) op[i] = x * sig;
        }
        break;
      }
      default:
        throw std::runtime_error("unknown activation");
    }
  }

  double step(const at::Tensor& y, const at::Tensor& displacement, const at::Tensor& weight, const at::Tensor& tau,
              const at::Tensor* feature) {
    const int64_t n = y.size(0), d = y.size(1), in = widths[0];
    if (s.rows != n) allocate(n);
    const size_t m = hidden();

    // The network's input: y, and the time feature as its last column for t,V.
    {
      const float* yp = y.const_data_ptr<float>();
      const float* fp = feature ? feature->const_data_ptr<float>() : nullptr;
      float* ip = s.input.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(ip + i * in, yp + i * d, sizeof(float) * d);
        if (fp) ip[i * in + d] = fp[i];
      }
    }

    // Forward: z_l = h_l W_lᵀ + b_l, with σ′ and σ″ at z_l; the last hidden layer's σ is not needed.
    for (size_t l = 0; l < m; ++l) {
      const at::Tensor& below = l == 0 ? s.input : s.h[l - 1];
      at::addmm_out(s.z[l], b[l], below, wt[l]);
      activate(s.z[l], s.h[l], s.slope[l], s.curve[l]);
    }

    // ∇ₓV: from the output layer's first weight row down, c_l = v_{l+1} ⊙ σ′(z_l), v_l = c_l W_l.
    const float* top = w[m].const_data_ptr<float>();  // row 0 of the output weight
    for (size_t l = m; l-- > 0;) {
      const float* vp = l + 1 == m ? nullptr : s.v[l + 1].const_data_ptr<float>();
      chain_product(l + 1 == m ? top : nullptr, vp, s.slope[l].const_data_ptr<float>(), s.chain[l].data_ptr<float>(), n,
                    widths[l + 1]);
      at::mm_out(s.v[l], s.chain[l], w[l]);
    }

    // The residual r = τ∇V + (y − x), the loss and its cotangent 2ωτr on ∇ₓV (none on the time column).
    double loss = 0.0;
    {
      const float* gp = s.v[0].const_data_ptr<float>();
      const float* dp = displacement.const_data_ptr<float>();
      const float* wp = weight.const_data_ptr<float>();
      const float* tp = tau.const_data_ptr<float>();
      float* cot = s.cotangent.data_ptr<float>();
      double total = 0.0;
      for (int64_t i = 0; i < n; ++i) total += wp[i];
      const float inv = static_cast<float>(1.0 / total);
      for (int64_t i = 0; i < n; ++i) {
        const float omega = wp[i] * inv, t = tp[i];
        float sq = 0.0f;
        for (int64_t j = 0; j < d; ++j) {
          const float r = gp[i * in + j] * t + dp[i * d + j];
          sq += r * r;
          cot[i * in + j] = 2.0f * omega * t * r;
        }
        for (int64_t j = d; j < in; ++j) cot[i * in + j] = 0.0f;
        loss += static_cast<double>(omega) * sq;
      }
    }

    // Back through the gradient chain, from the input up: ∂L/∂c_l = (∂L/∂v_l) W_lᵀ, ∂L/∂W_l gets
    // c_lᵀ (∂L/∂v_l), ∂L/∂v_{l+1} = ∂L/∂c_l ⊙ σ′ and ∂L/∂z_l gets ∂L/∂c_l ⊙ v_{l+1} ⊙ σ″.
    const at::Tensor* dv = &s.cotangent;
    for (size_t l = 0; l < m; ++l) {
      at::mm_out(s.dc[l], *dv, wt[l]);
      at::mm_out(gw[l], s.chain[l].t(), *dv);
      const float* vp = l + 1 == m ? nullptr : s.v[l + 1].const_data_ptr<float>();
      chain_backward(l + 1 == m ? top : nullptr, vp, s.slope[l].const_data_ptr<float>(), s.curve[l].const_data_ptr<float>(),
                     s.dc[l].data_ptr<float>(), s.dz_slope[l].data_ptr<float>(), n, widths[l + 1]);
      dv = &s.dc[l];
    }
    // v_m is the output weight's first row, shared by every sample: its gradient is the column sum;
    // the other output rows and the output bias do not enter ∇ₓ of the first output.
    {
      gw[m].zero_();
      gb[m].zero_();
      column_sums(dv->const_data_ptr<float>(), gw[m].data_ptr<float>(), n, widths[m]);
    }
    // Back through the forward pass, from the top: ∂L/∂W_l += (∂L/∂z_l)ᵀ h_l, ∂L/∂b_l = Σ_rows ∂L/∂z_l,
    // ∂L/∂z_{l−1} += ((∂L/∂z_l) W_l) ⊙ σ′(z_{l−1}).
    for (size_t l = m; l-- > 0;) {
      const at::Tensor& dz = s.dz_slope[l];
      const at::Tensor& below = l == 0 ? s.input : s.h[l - 1];
      gw[l].addmm_(dz.t(), below);
      column_sums(dz.const_data_ptr<float>(), gb[l].data_ptr<float>(), n, widths[l + 1]);
      if (l > 0) {
        at::mm_out(s.back[l], dz, w[l]);
        add_product(s.back[l].const_data_ptr<float>(), s.slope[l - 1].const_data_ptr<float>(),
                    s.dz_slope[l - 1].data_ptr<float>(), n * widths[l]);
      }
    }
    return loss;
  }
};

namespace {

void report(char* message, size_t capacity, const char* text) {
  if (!message || capacity == 0) return;
  std::strncpy(message, text, capacity - 1);
  message[capacity - 1] = '\0';
}

bool is_cpu_float_contiguous(const at::Tensor* t) {
  return t && t->defined() && t->device().is_cpu() && t->scalar_type() == at::kFloat && t->is_contiguous();
}

// `body()`, or `failure` with the message of whatever it threw: no exception crosses into Rust.
template <class T, class Body>
T guarded(char* message, size_t capacity, T failure, Body&& body) {
  try {
    return body();
  } catch (const c10::Error& e) {
    report(message, capacity, e.what_without_backtrace());
  } catch (const std::exception& e) {
    report(message, capacity, e.what());
  } catch (...) {
    report(message, capacity, "an unknown C++ exception");
  }
  return failure;
}

void require(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

}  // namespace

extern "C" {

// A step for the MLP with `layers` widths (input, hidden…, output; every layer with a bias) whose
// parameters are the vector `params` (per layer the weight, out × in row-major, then the bias) and
// whose gradient goes to `grad` (same layout). Both stay owned by the caller; the step keeps views of
// them. Returns NULL with a message when the arguments do not fit.
IjkStarMlpStep* ijk_internal_star_mlp_step_new(const at::Tensor* params, const at::Tensor* grad, const int64_t* widths,
                                               size_t layers, int32_t activation, char* message, size_t capacity) {
  return guarded(message, capacity, static_cast<IjkStarMlpStep*>(nullptr), [&] {
    require(widths && layers >= 3 && activation >= Softplus && activation <= Silu,
            "the kernel needs at least one hidden layer and a known activation");
    require(is_cpu_float_contiguous(params) && is_cpu_float_contiguous(grad) && params->dim() == 1 &&
                grad->numel() == params->numel(),
            "the kernel needs contiguous float32 CPU vectors of one size");
    auto step = std::make_unique<IjkStarMlpStep>();
    step->activation = activation;
    step->widths.assign(widths, widths + layers);
    int64_t offset = 0;
    for (size_t l = 0; l + 1 < layers; ++l) {
      const int64_t in = widths[l], out = widths[l + 1];
      require(in > 0 && out > 0 && offset + out * in + out <= params->numel(),
              "the widths do not match the parameter vector");
      step->w.push_back(params->narrow(0, offset, out * in).view({out, in}));
      step->gw.push_back(grad->narrow(0, offset, out * in).view({out, in}));
      offset += out * in;
      step->b.push_back(params->narrow(0, offset, out));
      step->gb.push_back(grad->narrow(0, offset, out));
      offset += out;
    }
    require(offset == params->numel(), "the widths do not match the parameter vector");
    for (auto& w : step->w) step->wt.push_back(w.t());
    return step.release();
  });
}

void ijk_internal_star_mlp_step_free(IjkStarMlpStep* step) { delete step; }

// One step on a batch: y and displacement n × d, weight and tau of n values, feature (n values, the
// time input of t,V) or NULL. Writes the loss to *loss and the gradient into the step's vector.
// Returns 0, or 1 with a message.
int32_t ijk_internal_star_mlp_step_run(IjkStarMlpStep* step, const at::Tensor* y, const at::Tensor* displacement,
                                       const at::Tensor* weight, const at::Tensor* tau, const at::Tensor* feature,
                                       double* loss, char* message, size_t capacity) {
  return guarded(message, capacity, int32_t{1}, [&] {
    require(step && loss, "a NULL argument");
    require(is_cpu_float_contiguous(y) && is_cpu_float_contiguous(displacement) && is_cpu_float_contiguous(weight) &&
                is_cpu_float_contiguous(tau) && (!feature || is_cpu_float_contiguous(feature)),
            "the batch must be contiguous float32 CPU tensors");
    const int64_t n = y->dim() == 2 ? y->size(0) : -1;
    const int64_t d = y->dim() == 2 ? y->size(1) : -1;
    require(n > 0 && d + (feature ? 1 : 0) == step->widths[0] && displacement->sizes() == y->sizes() &&
                weight->numel() == n && tau->numel() == n && (!feature || feature->numel() == n),
            "the batch's shapes do not fit the network");
    // Below autograd: nothing here is differentiated, and the dispatcher skips a layer per call.
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    *loss = step->step(*y, *displacement, *weight, *tau, feature);
    return int32_t{0};
  });
}

// One Adam step on one parameter vector with libtorch's own fused Adam (`_fused_adam_`, CPU and CUDA):
// params updated from grad with the moments exp_avg and exp_avg_sq and the step count `step` (a
// one-element float32 tensor on the same device, incremented here). With clip > 0 the gradient is
// first divided by max(1, (‖g‖ + 1e-6) / clip), libtorch's clip_grad_norm rule, through the op's
// grad_scale: on the device, no host read. A handful of operations whatever the device, against ≈ 10
// as separate tensor operations. Returns 0, or 1 with a message.
int32_t ijk_internal_flat_adam_step(const at::Tensor* params, const at::Tensor* grad, const at::Tensor* exp_avg,
                                    const at::Tensor* exp_avg_sq, const at::Tensor* step, double lr, double beta1,
                                    double beta2, double eps, double clip, char* message, size_t capacity) {
  return guarded(message, capacity, int32_t{1}, [&] {
    const at::Tensor* all[] = {params, grad, exp_avg, exp_avg_sq, step};
    for (const at::Tensor* t : all) require(t && t->defined(), "a NULL or undefined tensor");
    for (const at::Tensor* t : {grad, exp_avg, exp_avg_sq})
      require(t->device() == params->device() && t->scalar_type() == params->scalar_type() && t->is_contiguous() &&
                  t->numel() == params->numel(),
              "Adam's vectors must be contiguous tensors of one device, type and length");
    require(params->is_contiguous() && (params->scalar_type() == at::kFloat || params->scalar_type() == at::kDouble),
            "Adam's parameters must be a contiguous float32 or float64 tensor");
    require(step->device() == params->device() && step->scalar_type() == at::kFloat && step->numel() == 1,
            "Adam's step count must be one float32 value on the parameters' device");
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    step->add_(1);
    std::optional<at::Tensor> scale;
    if (clip > 0.0) scale = grad->norm().to(at::kFloat).add_(1e-6).div_(clip).clamp_min_(1.0);
    at::_fused_adam_({*params}, {*grad}, {*exp_avg}, {*exp_avg_sq}, {}, {*step}, lr, beta1, beta2, 0.0, eps,
                     /*amsgrad=*/false, /*maximize=*/false, scale, std::nullopt);
    return int32_t{0};
  });
}

}  // extern "C"

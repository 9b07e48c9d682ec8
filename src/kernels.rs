//! The C++ kernels of `csrc/` (against libtorch's ATen, compiled by build.rs), behind a safe
//! interface: JKOnet*'s fused CPU training step and Adam on a flat vector (libtorch's fused Adam,
//! any device). This file and `src/ffi` are the crate's only `unsafe` code: here the crate calls C,
//! there C calls the crate.
//!
//! Why C++: a training step written as libtorch operations pays per operation (dispatch, an
//! allocation, a pass over memory), ≈ 70 times per JKOnet* step on batches of a few hundred rows,
//! and tch exposes neither the raw kernels, nor unchecked memory access, nor `_fused_adam_`. In C++
//! the matrix products still run on ATen (MKL), into buffers allocated once, and the elementwise work
//! between them is fused into plain loops (measured in docs/BENCHMARKS.md).

use crate::error::{Error, Result};
use crate::nn::{Activation, Mlp};
use std::ffi::{c_char, c_void, CStr};
use std::ptr::NonNull;
use tch::Tensor;

/// The opaque C++ step object.
#[repr(C)]
struct RawStarMlpStep {
    _private: [u8; 0],
}

extern "C" {
    fn ijk_internal_star_mlp_step_new(
        params: *const c_void,
        grad: *const c_void,
        widths: *const i64,
        layers: usize,
        activation: i32,
        message: *mut c_char,
        capacity: usize,
    ) -> *mut RawStarMlpStep;
    fn ijk_internal_star_mlp_step_free(step: *mut RawStarMlpStep);
    #[allow(clippy::too_many_arguments)]
    fn ijk_internal_star_mlp_step_run(
        step: *mut RawStarMlpStep,
        y: *const c_void,
        displacement: *const c_void,
        weight: *const c_void,
        tau: *const c_void,
        feature: *const c_void,
        loss: *mut f64,
        message: *mut c_char,
        capacity: usize,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    fn ijk_internal_flat_adam_step(
        params: *const c_void,
        grad: *const c_void,
        exp_avg: *const c_void,
        exp_avg_sq: *const c_void,
        step: *const c_void,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        clip: f64,
        message: *mut c_char,
        capacity: usize,
    ) -> i32;
}

/// A tch tensor as the C++ side sees it: tch's `C_tensor` is a pointer to an `at::Tensor` (tch is
/// pinned to 0.24.0, whose torch_api.h says so).
fn handle(t: &Tensor) -> *const c_void {
    t.as_ptr() as *const c_void
}

fn activation_code(a: Activation) -> i32 {
    match a {
        Activation::Softplus => 0,
        Activation::Selu => 1,
        Activation::Relu => 2,
        Activation::Tanh => 3,
        Activation::Silu => 4,
    }
}

fn message_text(buffer: &[u8]) -> String {
    CStr::from_bytes_until_nul(buffer).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default()
}

/// JKOnet*'s explicit training step for an MLP potential on the CPU in one call: the loss
/// Σ ω_i ‖τ_i ∇ₓV(y_i) + (y_i − x_i)‖² (ω = w / Σw) and its parameter gradient, the arithmetic of
/// [`Mlp::input_gradient_tape`] and [`crate::nn::InputGradientTape::parameter_vjp_into`].
pub struct StarMlpStep {
    /// The C++ object; it holds its own references to the parameter and gradient vectors.
    raw: NonNull<RawStarMlpStep>,
}

// The C++ object is used only through `&mut self` (one thread at a time) and owns its buffers; the
// tensors it views are reference-counted by libtorch.
unsafe impl Send for StarMlpStep {}

impl StarMlpStep {
    /// The step for `net`, whose parameters are views into `params` (see
    /// [`crate::nn::flatten_parameters`]), writing its gradient into `grad` (same layout). `None`
    /// where the kernel does not apply (the C++ side checks): not contiguous float32 CPU vectors, a
    /// layer without bias (the vector is then shorter than the widths say), or no hidden layer.
    pub fn new(net: &Mlp, params: &Tensor, grad: &Tensor) -> Option<StarMlpStep> {
        let widths = net.widths();
        // SAFETY: the tensor handles are live for the call (and the C++ object keeps its own
        // references to their storage) and `widths` is a live slice of `widths.len()` values. No
        // message buffer: a refusal means "use the tensor path", whatever its reason.
        let raw = unsafe {
            ijk_internal_star_mlp_step_new(
                handle(params),
                handle(grad),
                widths.as_ptr(),
                widths.len(),
                activation_code(net.activation()),
                std::ptr::null_mut(),
                0,
            )
        };
        NonNull::new(raw).map(|raw| StarMlpStep { raw })
    }

    /// One batch: y and displacement (y − x) n × d, weight and tau n values each, and the time
    /// feature (n values) for a time-varying potential. Returns the loss; the gradient is in the
    /// vector given to [`StarMlpStep::new`].
    pub fn run(
        &mut self,
        y: &Tensor,
        displacement: &Tensor,
        weight: &Tensor,
        tau: &Tensor,
        feature: Option<&Tensor>,
    ) -> Result<f64> {
        let mut loss = f64::NAN;
        let mut message = [0u8; 256];
        // SAFETY: `raw` is the live object made by `new` (freed only in Drop), every tensor handle
        // is live for the call and the C++ side checks device, type, contiguity and shapes before
        // reading them; `loss` and `message` are writable.
        let status = unsafe {
            ijk_internal_star_mlp_step_run(
                self.raw.as_ptr(),
                handle(y),
                handle(displacement),
                handle(weight),
                handle(tau),
                feature.map_or(std::ptr::null(), handle),
                &mut loss,
                message.as_mut_ptr().cast(),
                message.len(),
            )
        };
        if status == 0 {
            Ok(loss)
        } else {
            Err(Error::internal(format!("JKOnet* CPU kernel: {}", message_text(&message))))
        }
    }
}

/// Adam's state and hyper-parameters for [`flat_adam_step`].
pub struct AdamStep<'a> {
    pub exp_avg: &'a Tensor,
    pub exp_avg_sq: &'a Tensor,
    /// The number of steps taken, one float32 value on the parameters' device (incremented by the
    /// step).
    pub step: &'a Tensor,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub clip_norm: Option<f64>,
}

/// One Adam step on a parameter vector (the update of [`crate::optim::FlatAdam`]) by libtorch's own
/// fused Adam, on any device: `params` from `grad`, which is first clipped in place to the global
/// norm `clip_norm` when given (on the device, no host read). A handful of operations instead of
/// ≈ 10 through tch (≈ 13 against ≈ 30 µs per step on a few thousand parameters on the CPU, one fused
/// kernel instead of ten launches on a GPU).
pub fn flat_adam_step(params: &Tensor, grad: &Tensor, state: AdamStep<'_>) -> Result<()> {
    let mut message = [0u8; 256];
    // SAFETY: every tensor handle is live for the call and the C++ side checks device, type,
    // contiguity and lengths before using them; `message` is writable.
    let status = unsafe {
        ijk_internal_flat_adam_step(
            handle(params),
            handle(grad),
            handle(state.exp_avg),
            handle(state.exp_avg_sq),
            handle(state.step),
            state.lr,
            state.beta1,
            state.beta2,
            state.eps,
            state.clip_norm.unwrap_or(0.0),
            message.as_mut_ptr().cast(),
            message.len(),
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(Error::internal(format!("Adam kernel: {}", message_text(&message))))
    }
}

impl Drop for StarMlpStep {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `ijk_internal_star_mlp_step_new` and is freed once, here.
        unsafe { ijk_internal_star_mlp_step_free(self.raw.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{flatten_parameters, views_like};
    use tch::nn::VarStore;
    use tch::{Device, Kind};

    fn batch(n: i64, d: i64) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
        tch::manual_seed(3);
        let opts = (Kind::Float, Device::Cpu);
        let y = Tensor::randn([n, d], opts);
        let displacement = Tensor::randn([n, d], opts) * 0.3;
        let weight = Tensor::rand([n], opts) + 0.1;
        let tau = Tensor::rand([n, 1], opts) + 0.5;
        let feature = Tensor::rand([n, 1], opts);
        (y, displacement, weight, tau, feature)
    }

    /// The kernel's loss and gradient against the tensor-operation tape it fuses, for every
    /// activation, one to three hidden layers, with and without a time input, and two batch sizes
    /// in turn (its buffers are reallocated when the size changes).
    #[test]
    fn the_kernel_matches_the_tensor_tape() {
        let activations =
            [Activation::Softplus, Activation::Selu, Activation::Relu, Activation::Tanh, Activation::Silu];
        for activation in activations {
            for hidden in [vec![16i64], vec![32, 24], vec![8, 8, 8]] {
                for time in [false, true] {
                    let d = 3;
                    let input = d + i64::from(time);
                    let vs = VarStore::new(Device::Cpu);
                    let net = Mlp::new(&vs.root(), input, &hidden, 1, activation);
                    let params = net.parameters();
                    let flat = flatten_parameters(&params);
                    let grad = flat.zeros_like();
                    let mut kernel = StarMlpStep::new(&net, &flat, &grad).expect("a CPU float MLP fits the kernel");
                    for n in [40, 17] {
                        let (y, disp, w, tau, feature) = batch(n, d);
                        let loss = kernel.run(&y, &disp, &w, &tau, time.then_some(&feature)).unwrap();
                        // The same quantities through the tensor tape.
                        let want = flat.zeros_like();
                        let expected = tch::no_grad(|| {
                            let x = if time { Tensor::cat(&[&y, &feature], 1) } else { y.shallow_clone() };
                            let tape = net.input_gradient_tape(&x);
                            let r = tape.gradient.narrow(1, 0, d) * &tau + &disp;
                            let omega = (&w / w.sum(Kind::Float)).unsqueeze(1);
                            let expected = (r.square() * &omega).sum(Kind::Float).double_value(&[]);
                            let mut cot = r * (omega * &tau * 2.0);
                            if time {
                                cot = Tensor::cat(&[cot.shallow_clone(), cot.narrow(1, 0, 1).zeros_like()], 1);
                            }
                            tape.parameter_vjp_into(&cot, &views_like(&want, &params));
                            expected
                        });
                        let what = format!("{activation:?} {hidden:?} time {time} n {n}");
                        assert!(
                            (loss - expected).abs() <= 1e-5 * expected.abs().max(1e-3),
                            "{what}: {loss} vs {expected}"
                        );
                        let err = (&grad - &want).abs().max().double_value(&[]);
                        let scale = want.abs().max().double_value(&[]).max(1e-3);
                        assert!(err <= 1e-4 * scale, "{what}: gradient off by {err} (scale {scale})");
                        assert!(scale > 1e-3, "{what}: a gradient to compare");
                    }
                }
            }
        }
    }

    #[test]
    fn the_kernel_refuses_what_does_not_fit() {
        let vs = VarStore::new(Device::Cpu);
        let net = Mlp::new(&vs.root(), 2, &[8], 1, Activation::Softplus);
        let params = net.parameters();
        let flat = flatten_parameters(&params);
        // A gradient vector of another type, or a parameter vector of another length.
        assert!(StarMlpStep::new(&net, &flat, &flat.to_kind(Kind::Double)).is_none());
        assert!(StarMlpStep::new(&net, &flat.narrow(0, 0, 10), &flat.zeros_like().narrow(0, 0, 10)).is_none());
        let grad = flat.zeros_like();
        let mut kernel = StarMlpStep::new(&net, &flat, &grad).unwrap();
        let (y, disp, w, tau, feature) = batch(10, 2);
        // A batch of the wrong width, a time feature the network has no input for, mismatched rows.
        let (y1, disp1) = (y.narrow(1, 0, 1).contiguous(), disp.narrow(1, 0, 1).contiguous());
        let e = kernel.run(&y1, &disp1, &w, &tau, None).unwrap_err();
        assert!(e.message().contains("shapes"), "{e}");
        // A non-contiguous batch.
        let e = kernel.run(&y.tr().contiguous().tr(), &disp, &w, &tau, None).unwrap_err();
        assert!(e.message().contains("contiguous"), "{e}");
        assert!(kernel.run(&y, &disp, &w, &tau, Some(&feature)).is_err());
        assert!(kernel.run(&y, &disp, &w.narrow(0, 0, 5), &tau, None).is_err());
        assert!(kernel.run(&y, &disp.to_kind(Kind::Double), &w, &tau, None).is_err());
        // Still usable after the refusals.
        assert!(kernel.run(&y, &disp, &w, &tau, None).unwrap().is_finite());
    }
}

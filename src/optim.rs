//! Optimiser settings shared by the trainers.

use crate::error::{Error, Result};
use tch::nn::{self, OptimizerConfig};

/// Adam hyper-parameters plus optional global-norm gradient clipping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Clip the global gradient norm to this value before each step.
    pub clip_norm: Option<f64>,
}

impl AdamConfig {
    pub fn validate(&self, what: &str) -> Result<()> {
        let ok = self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0
            && self.clip_norm.is_none_or(|c| c.is_finite() && c > 0.0);
        if ok {
            Ok(())
        } else {
            Err(Error::invalid_argument(format!(
                "{what} optimiser: need lr > 0, 0 ≤ beta1, beta2 < 1, eps > 0 and a positive clip norm, got {self:?}"
            )))
        }
    }

    pub fn build(&self, vs: &nn::VarStore) -> Result<nn::Optimizer> {
        Ok(nn::Adam { beta1: self.beta1, beta2: self.beta2, wd: 0.0, eps: self.eps, amsgrad: false }
            .build(vs, self.lr)?)
    }

    /// One step on `loss`: zero, backward, clip, update.
    pub fn step(&self, opt: &mut nn::Optimizer, loss: &tch::Tensor) {
        opt.zero_grad();
        loss.backward();
        if let Some(c) = self.clip_norm {
            opt.clip_grad_norm(c);
        }
        opt.step();
    }
}

/// Adam with optional global-norm clipping on one flat parameter vector (see
/// [`crate::nn::flatten_parameters`]): libtorch's fused Adam (the update of `torch::optim::Adam`)
/// through [`crate::kernels::flat_adam_step`], a handful of operations on any device and no host read,
/// so a step's work does not grow with the number of parameter tensors and nothing waits on the device.
pub struct FlatAdam {
    config: AdamConfig,
    exp_avg: tch::Tensor,
    exp_avg_sq: tch::Tensor,
    /// Steps taken, on the parameters' device (the fused op reads it there).
    steps: tch::Tensor,
}

impl FlatAdam {
    pub fn new(config: AdamConfig, params: &tch::Tensor) -> FlatAdam {
        let steps = tch::Tensor::zeros([1], (tch::Kind::Float, params.device()));
        FlatAdam { config, exp_avg: params.zeros_like(), exp_avg_sq: params.zeros_like(), steps }
    }

    /// Update `params` in place from `grad` (same shape; clipped in place when clipping is on).
    pub fn step(&mut self, params: &tch::Tensor, grad: &tch::Tensor) -> Result<()> {
        let c = &self.config;
        let state = crate::kernels::AdamStep {
            exp_avg: &self.exp_avg,
            exp_avg_sq: &self.exp_avg_sq,
            step: &self.steps,
            lr: c.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            clip_norm: c.clip_norm,
        };
        crate::kernels::flat_adam_step(params, grad, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    #[test]
    fn flat_adam_follows_libtorch_adam_with_clipping() {
        for clip_norm in [None, Some(0.5)] {
            let config = AdamConfig { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, clip_norm };
            let vs = nn::VarStore::new(Device::Cpu);
            let a = vs.root().randn("a", &[3, 4], 0.0, 1.0);
            let b = vs.root().randn("b", &[5], 0.0, 1.0);
            let mut opt = config.build(&vs).unwrap();
            let flat = tch::no_grad(|| Tensor::cat(&[a.reshape([-1]), b.reshape([-1])], 0));
            let mut flat_adam = FlatAdam::new(config, &flat);
            for step in 0..20 {
                // A loss whose gradient changes with the parameters and is large enough to clip.
                let loss = (a.square().sum(Kind::Float) * 3.0 + (&b - 1.0).pow_tensor_scalar(4).sum(Kind::Float)) * 0.2;
                let grad = tch::no_grad(|| {
                    let fa = flat.narrow(0, 0, 12).view([3, 4]);
                    let fb = flat.narrow(0, 12, 5);
                    Tensor::cat(&[(fa * 1.2).reshape([-1]), (fb - 1.0).pow_tensor_scalar(3) * 0.8], 0)
                });
                config.step(&mut opt, &loss);
                flat_adam.step(&flat, &grad).unwrap();
                let reference = tch::no_grad(|| Tensor::cat(&[a.reshape([-1]), b.reshape([-1])], 0));
                let err = (&reference - &flat).abs().max().double_value(&[]);
                assert!(err < 1e-5, "clip {clip_norm:?}, step {step}: {err}");
            }
        }
    }

    #[test]
    fn flat_adam_refuses_mismatched_vectors() {
        let config = AdamConfig { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, clip_norm: Some(1.0) };
        let flat = Tensor::ones([6], (Kind::Float, Device::Cpu));
        let mut adam = FlatAdam::new(config, &flat);
        for grad in [Tensor::ones([5], (Kind::Float, Device::Cpu)), Tensor::ones([6], (Kind::Double, Device::Cpu))] {
            let e = adam.step(&flat, &grad).unwrap_err();
            assert!(e.message().contains("one device, type and length"), "{e}");
        }
        // The parameters are untouched by the refusals, and a fitting gradient still steps.
        assert_eq!(flat.sum(Kind::Float).double_value(&[]), 6.0);
        adam.step(&flat, &flat.ones_like()).unwrap();
        assert!(flat.max().double_value(&[]) < 1.0);
    }
}

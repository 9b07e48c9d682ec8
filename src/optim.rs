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

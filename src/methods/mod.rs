//! Learning methods. Each one fits an [`crate::energy::Energy`] to snapshots and produces the same
//! [`Model`]; they share data, energy, prediction, metrics and the training loop below.
//!
//! - [`ijkonet`]: iJKOnet, the inverse-optimisation min–max objective with transport maps.
//! - [`jkonet_star`]: JKOnet*, first-order optimality on precomputed OT couplings (MLP or linear).
//! - [`jkonet`]: JKOnet, ICNN JKO steps trained through the unrolled inner optimisation.

pub mod ijkonet;
pub mod jkonet;
pub mod jkonet_star;

use crate::config::{Method, TrainConfig};
use crate::data::Snapshots;
use crate::error::{Error, ErrorKind, Result};
use crate::model::Model;
use std::ops::ControlFlow;

/// What a progress callback sees after each epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    /// Mean over the epoch of the loss that trains the energy: iJKOnet's energy-player loss
    /// Σ_k [Ĵ(X_{k+1}) − Ĵ(T^k X_k)], JKOnet*'s optimality residual, JKOnet's outer OT loss.
    pub energy_loss: f64,
    /// Mean over the epoch of the inner player's loss: iJKOnet's map loss, JKOnet's inner JKO
    /// objective at the end of its solve; 0 for JKOnet* (no inner problem).
    pub map_loss: f64,
    /// Optional evaluation metric (mean one-step W1 on held-out data), when requested.
    pub metric: Option<f64>,
}

/// A training session of any method. Training state (optimisers, precomputed couplings, …) lives in
/// the trainer; [`Trainer::model`] is always a usable model (the last finite parameters after a
/// divergence).
pub trait Trainer: Send {
    fn model(&self) -> &Model;
    /// Finish training and keep the model.
    fn into_model(self: Box<Self>) -> Model;
    /// One optimisation iteration. Returns (energy loss, inner loss); on a non-finite loss the last
    /// finite parameters are restored, a `Numerical` error is returned and further steps are refused.
    fn step(&mut self) -> Result<(f64, f64)>;
    /// Iterations that make one epoch.
    fn iterations_per_epoch(&self) -> usize;
    /// Count one finished epoch on the model.
    fn finish_epoch(&mut self);

    /// Train for `epochs` epochs. After each, `callback` sees the progress and may stop training by
    /// returning `ControlFlow::Break` (the error kind is then `Cancelled`). When `eval` is given,
    /// the mean one-step W1 on it is computed every `eval_every` epochs (and after the last) and
    /// passed as the metric.
    fn train(
        &mut self,
        epochs: usize,
        eval: Option<(&Snapshots, usize)>,
        callback: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Vec<Progress>> {
        let per_epoch = self.iterations_per_epoch();
        let mut history = Vec::with_capacity(epochs);
        for e in 0..epochs {
            let (mut es, mut ms) = (0.0, 0.0);
            for _ in 0..per_epoch {
                let (el, ml) = self.step()?;
                es += el;
                ms += ml;
            }
            self.finish_epoch();
            let metric = match eval {
                Some((test, every)) if every > 0 && ((e + 1) % every == 0 || e + 1 == epochs) => {
                    let w = self.model().one_step_w1(test)?;
                    Some(w.iter().sum::<f64>() / w.len() as f64)
                }
                _ => None,
            };
            let p = Progress {
                epoch: self.model().epochs_done(),
                epochs,
                energy_loss: es / per_epoch as f64,
                map_loss: ms / per_epoch as f64,
                metric,
            };
            history.push(p);
            if callback(&p).is_break() {
                return Err(Error::new(ErrorKind::Cancelled, format!("training cancelled after epoch {}", p.epoch)));
            }
        }
        Ok(history)
    }
}

/// Refuse a configuration meant for another method (each trainer checks it was given its own).
pub(crate) fn expect_method(config: &TrainConfig, expected: Method) -> Result<()> {
    if config.method == expected {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "the {} trainer was given a configuration for method '{}'",
            expected.display_name(),
            config.method
        )))
    }
}

/// Iterations of one epoch for minibatch trainers: one pass over the largest snapshot in batches.
pub(crate) fn batches_per_epoch(snapshots: &[tch::Tensor], batch_size: usize) -> usize {
    let largest = snapshots.iter().map(|d| d.size()[0] as usize).max().unwrap_or(1);
    largest.div_ceil(batch_size).max(1)
}

/// `batch` rows of `x` drawn without replacement from `rng` (all of `x` when it has no more rows).
pub(crate) fn sample_batch(x: &tch::Tensor, batch: usize, rng: &mut rand_chacha::ChaCha8Rng) -> tch::Tensor {
    let n = x.size()[0] as usize;
    if batch >= n {
        return x.shallow_clone();
    }
    let idx: Vec<i64> = rand::seq::index::sample(rng, n, batch).into_iter().map(|i| i as i64).collect();
    x.index_select(0, &tch::Tensor::from_slice(&idx).to_device(x.device()))
}

/// Detached copies of `params`: the last finite state a diverging run falls back to.
pub(crate) fn snapshot_parameters(params: &[tch::Tensor]) -> Vec<tch::Tensor> {
    tch::no_grad(|| params.iter().map(|p| p.detach().copy()).collect())
}

/// Write `backup` (from [`snapshot_parameters`]) back into `params`, in place.
pub(crate) fn restore_parameters(params: &[tch::Tensor], backup: &[tch::Tensor]) {
    tch::no_grad(|| {
        for (p, b) in params.iter().zip(backup) {
            p.shallow_clone().copy_(b);
        }
    });
}

/// A trainer for `config.method` on `data` (validated snapshots).
pub fn trainer(config: &TrainConfig, data: &Snapshots) -> Result<Box<dyn Trainer>> {
    Ok(match config.method {
        Method::IJKOnet => Box::new(ijkonet::IJKOnetTrainer::new(config, data)?),
        Method::JKOnetStar | Method::JKOnetStarLinear => jkonet_star::trainer(config, data)?,
        Method::JKOnet => jkonet::trainer(config, data)?,
    })
}

/// Train `config.method` on `data` for `config.epochs` epochs with no callback.
pub fn fit(config: &TrainConfig, data: &Snapshots) -> Result<Model> {
    let mut t = trainer(config, data)?;
    t.train(config.epochs, None, &mut |_| ControlFlow::Continue(()))?;
    Ok(t.into_model())
}

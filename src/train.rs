//! The training loop every method shares: the [`Trainer`] trait (one optimisation step per method,
//! epochs, validation-based early stopping, the wall-clock budget and the best-parameter restore
//! here), the validation split, minibatch sampling and the one divergence rule ([`DivergenceGuard`]).
//! Methods implement [`Trainer::step`]; they depend on this module, never the other way round.

use crate::baselines::GaussianFit;
use crate::config::{Method, TrainConfig};
use crate::data::Snapshots;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Model, ValidationSummary};
use crate::nn::{restore_parameters, snapshot_parameters};
use std::ops::ControlFlow;
use std::time::Instant;
use tch::Tensor;

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
    /// Mean one-step W1 on the internal validation cells, on the epochs where it was evaluated.
    pub validation: Option<f64>,
    /// The best validation score so far (its parameters are what training keeps).
    pub best_validation: Option<f64>,
}

/// Most validation cells taken from one snapshot: enough for a stable W1, cheap to evaluate.
const MAX_VALIDATION_CELLS: usize = 500;

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
    fn finish_epoch(&mut self) {
        self.model_mut().epochs_done += 1;
    }
    /// The model, mutably (normalisation, baselines and the best parameters are set through it).
    fn model_mut(&mut self) -> &mut Model;
    /// Iterations of the `auto` budget: 100 epochs unless the method knows better.
    fn auto_iterations(&self) -> usize {
        100 * self.iterations_per_epoch()
    }
    /// Cells held out from training to choose the stopping point (data units), if any.
    fn validation_data(&self) -> Option<&Snapshots> {
        None
    }
    /// Epochs a [`Trainer::train`] call with `epochs` runs at most: `epochs` when positive, else the
    /// configuration's `epochs`, else its `iterations` (or [`Trainer::auto_iterations`]) in whole epochs.
    fn budget_epochs(&self, epochs: usize) -> usize {
        let cfg = self.model().config();
        if epochs > 0 {
            epochs
        } else if cfg.epochs > 0 {
            cfg.epochs
        } else {
            let iterations = if cfg.iterations > 0 { cfg.iterations } else { self.auto_iterations() };
            iterations.div_ceil(self.iterations_per_epoch().max(1)).max(1)
        }
    }

    /// Train for `epochs` epochs (0 = the configuration's budget: its `epochs`, else its
    /// `iterations`, else [`Trainer::auto_iterations`]). After each epoch, `callback` sees the
    /// progress and may stop training by returning `ControlFlow::Break` (the error kind is then
    /// `Cancelled`). When `eval` is given, the mean one-step W1 on it is computed every
    /// `eval_every` epochs (and after the last) and passed as the metric.
    ///
    /// With validation data, the mean one-step W1 on them is computed before training and every
    /// `eval_interval` iterations; training stops after `patience` iterations without improvement
    /// or past `max_seconds`, and the model keeps the parameters of the best score (also when
    /// cancelled).
    fn train(
        &mut self,
        epochs: usize,
        eval: Option<(&Snapshots, usize)>,
        callback: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<Vec<Progress>> {
        let per_epoch = self.iterations_per_epoch().max(1);
        let cfg = self.model().config().clone();
        let epochs = self.budget_epochs(epochs);
        let validation = self.validation_data().cloned();
        let val_every = (cfg.eval_interval as f64 / per_epoch as f64).round().max(1.0) as usize;
        let patience_evals = if cfg.patience == 0 { usize::MAX } else { cfg.patience.div_ceil(val_every * per_epoch) };
        let start = Instant::now();
        let score = |m: &Model, v: &Snapshots| -> Result<f64> {
            let w = m.one_step_w1(v)?;
            let mean = w.iter().sum::<f64>() / w.len() as f64;
            Ok(if mean.is_finite() { mean } else { f64::INFINITY })
        };
        let mut best: Option<(f64, usize, Vec<tch::Tensor>)> = None;
        let mut initial = f64::NAN;
        if let Some(v) = &validation {
            initial = score(self.model(), v)?;
            best = Some((initial, self.model().epochs_done(), self.model().state_snapshot()));
        }
        let mut since_best = 0usize;
        let mut stop_reason = "budget";
        let mut history = Vec::new();
        let mut outcome = Ok(());
        for e in 0..epochs {
            let (mut es, mut ms) = (0.0, 0.0);
            for _ in 0..per_epoch {
                let (el, ml) = self.step()?;
                es += el;
                ms += ml;
            }
            self.finish_epoch();
            let last = e + 1 == epochs;
            let metric = match eval {
                Some((test, every)) if every > 0 && ((e + 1) % every == 0 || last) => {
                    let w = self.model().one_step_w1(test)?;
                    Some(w.iter().sum::<f64>() / w.len() as f64)
                }
                _ => None,
            };
            let out_of_time = cfg.max_seconds > 0.0 && start.elapsed().as_secs_f64() >= cfg.max_seconds;
            let mut val_score = None;
            if let Some(v) = &validation {
                if (e + 1) % val_every == 0 || last || out_of_time {
                    let s = score(self.model(), v)?;
                    val_score = Some(s);
                    if best.as_ref().is_none_or(|b| s < b.0) {
                        best = Some((s, self.model().epochs_done(), self.model().state_snapshot()));
                        since_best = 0;
                    } else {
                        since_best += 1;
                    }
                }
            }
            let p = Progress {
                epoch: self.model().epochs_done(),
                epochs,
                energy_loss: es / per_epoch as f64,
                map_loss: ms / per_epoch as f64,
                metric,
                validation: val_score,
                best_validation: best.as_ref().map(|b| b.0),
            };
            history.push(p);
            if callback(&p).is_break() {
                outcome = Err(Error::new(ErrorKind::Cancelled, format!("training cancelled after epoch {}", p.epoch)));
                break;
            }
            if since_best >= patience_evals {
                stop_reason = "patience";
                break;
            }
            if out_of_time {
                stop_reason = "time";
                break;
            }
        }
        if let Some((best_w1, best_epoch, state)) = best {
            let model = self.model_mut();
            model.restore_state(&state);
            model.validation = Some(ValidationSummary {
                initial_w1: initial,
                best_w1,
                best_epoch,
                epochs_run: history.len(),
                stop_reason,
            });
        }
        outcome.map(|_| history)
    }
}

/// The model accessors of a [`Trainer`] whose model is its field `model` (every method's trainer).
macro_rules! model_field_access {
    () => {
        fn model(&self) -> &crate::model::Model {
            &self.model
        }
        fn model_mut(&mut self) -> &mut crate::model::Model {
            &mut self.model
        }
        fn into_model(self: Box<Self>) -> crate::model::Model {
            self.model
        }
    };
}
pub(crate) use model_field_access;

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

/// The cells [`crate::methods::trainer`] trains on and the validation cells it holds out: the validation fraction
/// of every snapshot, at least 2 and at most 500 cells, leaving at least 3 to train on. None when
/// the fraction is 0 or a snapshot is too small for that.
pub fn validation_split(config: &TrainConfig, data: &Snapshots) -> (Snapshots, Option<Snapshots>) {
    let fraction = config.validation_fraction();
    if fraction <= 0.0 {
        return (data.clone(), None);
    }
    let counts: Vec<usize> =
        data.iter().map(|s| ((s.len() as f64 * fraction).round() as usize).clamp(2, MAX_VALIDATION_CELLS)).collect();
    match data.split_counts(&counts, 3, config.seed ^ 0x5EED_0F7A_11D0) {
        Ok((fit, val)) => (fit, Some(val)),
        Err(_) => (data.clone(), None),
    }
}

/// What a trainer is given: the training cells in network coordinates, their Gaussian fits (same
/// coordinates) and the validation cells, if any (same coordinates).
pub(crate) struct TrainingData<'a> {
    pub z: &'a Snapshots,
    pub fits: &'a [GaussianFit],
    pub validation: Option<&'a Snapshots>,
}

/// The one divergence rule of every trainer: a non-finite loss or parameter stops training with a
/// `Numerical` error, the guarded parameters go back to the last finite copy, and later steps are
/// refused with a `State` error (the model stays usable with the restored parameters).
pub(crate) struct DivergenceGuard {
    /// The last parameters known to give finite losses (empty when the trainer restores from its
    /// own source, e.g. iJKOnet's averaged model).
    backup: Vec<Tensor>,
    failed: bool,
}

impl DivergenceGuard {
    /// A guard keeping copies of `params` (their current values are the first fallback).
    pub(crate) fn new(params: &[Tensor]) -> DivergenceGuard {
        DivergenceGuard { backup: snapshot_parameters(params), failed: false }
    }

    /// A guard whose trainer restores the parameters itself.
    pub(crate) fn without_backup() -> DivergenceGuard {
        DivergenceGuard { backup: Vec::new(), failed: false }
    }

    /// `Err` once training has diverged.
    pub(crate) fn check_running(&self) -> Result<()> {
        if self.failed {
            Err(Error::state("training diverged earlier; the last finite parameters were kept"))
        } else {
            Ok(())
        }
    }

    /// Record `params` as the last finite state (in place: no allocation per step).
    pub(crate) fn keep(&mut self, params: &[Tensor]) {
        tch::no_grad(|| {
            for (b, p) in self.backup.iter_mut().zip(params) {
                b.copy_(p);
            }
        });
    }

    /// Training diverged: restore the backup into `params` (when kept), refuse further steps and
    /// return the error to report. `what` names the value, `at` the place (e.g. "iteration 12").
    pub(crate) fn trip(&mut self, params: &[Tensor], what: &str, value: f64, at: &str) -> Error {
        if !self.backup.is_empty() {
            restore_parameters(params, &self.backup);
        }
        self.failed = true;
        Error::numerical(format!(
            "training diverged: {what} is {value} at {at}; the last finite parameters were restored"
        ))
    }
}

/// Whether every value of every tensor is finite, with one host read: Σ 0·p is NaN iff some p is
/// not finite (a per-tensor check would synchronise once per tensor).
pub(crate) fn all_finite(params: &[Tensor]) -> bool {
    if params.is_empty() {
        return true;
    }
    let probe = tch::no_grad(|| {
        let parts: Vec<Tensor> = params.iter().map(|p| (p * 0.0).sum(tch::Kind::Float)).collect();
        Tensor::stack(&parts, 0).sum(tch::Kind::Float)
    });
    probe.double_value(&[]).is_finite()
}

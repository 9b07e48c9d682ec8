//! JKOnet* with MLP energies: Adam on the squared optimality residual over shuffled batches of
//! couplings (spec §4.2), on the real step sizes τ_k (the reference hard-codes τ = 1).
//!
//! Per batch: L = Σ_i w_i ‖τ_i(∇V(y_i, t_i) + θ₃∇log ρ(y_i) + (∇W ∗ ρ̂)(y_i)) + (y_i − x_i)‖² / Σ_i w_i.
//! The interaction average ρ̂ uses only the batch's targets *of the same step* (the reference mixes
//! snapshots, spec §10.6); a normalised weighted mean rather than the reference's weighted sum makes
//! the loss scale independent of the number of particles (§10.9). No EMA: this is a plain
//! minimisation, not a game, so the last iterate is the estimate.

use super::couplings::{self, Rows};
use crate::config::{Method, TrainConfig};
use crate::data::Snapshots;
use crate::energy::Energy;
use crate::error::Result;
use crate::model::{min_energy_parameters, MethodNetworks, Model, StepRule, TimeAxis};
use crate::train::{expect_method, DivergenceGuard, Trainer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::nn;
use tch::{Kind, Tensor};

/// JKOnet*'s networks: an MLP energy and the SDE step rule.
pub(crate) const NETWORKS: MethodNetworks = MethodNetworks { build: networks, min_parameters: min_energy_parameters };

fn networks(
    config: &TrainConfig,
    dim: usize,
    _: &TimeAxis,
    device: tch::Device,
) -> Result<(Energy, Box<dyn StepRule>)> {
    Ok(super::with_sde_rule(Energy::new(&config.energy, dim, device, config.seed)?))
}

/// The per-row training tensors (one row per coupling) and each row's step.
struct RowTensors {
    x: Tensor,
    y: Tensor,
    weight: Tensor,
    /// τ_k per row.
    tau: Tensor,
    /// Time feature of the target snapshot per row (n × 1), for `t,V`.
    feature: Tensor,
    grad_log_density: Option<Tensor>,
    step: Vec<usize>,
}

impl RowTensors {
    /// The rows `order` (indices into these rows), in that order.
    fn gather(&self, order: &[usize]) -> RowTensors {
        let idx: Vec<i64> = order.iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&idx).to_device(self.x.device());
        let pick = |t: &Tensor| t.index_select(0, &idx);
        RowTensors {
            x: pick(&self.x),
            y: pick(&self.y),
            weight: pick(&self.weight),
            tau: pick(&self.tau),
            feature: pick(&self.feature),
            grad_log_density: self.grad_log_density.as_ref().map(pick),
            step: order.iter().map(|&i| self.step[i]).collect(),
        }
    }
}

/// A JKOnet* (MLP) training session.
pub struct StarTrainer {
    model: Model,
    /// Every coupling row, in the order of the couplings.
    all: RowTensors,
    order: Vec<usize>,
    cursor: usize,
    /// The rows gathered in this epoch's order.
    epoch_rows: Option<RowTensors>,
    opt: nn::Optimizer,
    rng: ChaCha8Rng,
    /// Keeps the last energy parameters that gave a finite loss.
    guard: DivergenceGuard,
    iterations: usize,
    /// Seconds spent on couplings and densities (reported by the benchmarks).
    pub precompute_seconds: f64,
}

fn column(v: &[f64], device: tch::Device) -> Tensor {
    let f: Vec<f32> = v.iter().map(|&a| a as f32).collect();
    Tensor::from_slice(&f).to_device(device)
}

impl StarTrainer {
    /// Precompute couplings (and densities for the internal energy) and set up the optimiser.
    pub fn new(config: &TrainConfig, data: &Snapshots) -> Result<StarTrainer> {
        expect_method(config, Method::JKOnetStar)?;
        let start = std::time::Instant::now();
        let model = Model::new(config, data.dim(), data.times(), NETWORKS)?;
        let plans = couplings::compute(data, &config.star, config.seed)?;
        let densities = if config.energy.variant.internal {
            Some(couplings::target_densities(data, config.star.gmm_components, config.seed)?)
        } else {
            None
        };
        let rows = couplings::rows(data, &plans, densities.as_deref());
        let precompute_seconds = start.elapsed().as_secs_f64();
        Self::from_rows(model, rows, precompute_seconds)
    }

    fn from_rows(model: Model, rows: Rows, precompute_seconds: f64) -> Result<StarTrainer> {
        let device = model.device;
        let axis = &model.axis;
        let tau: Vec<f64> = rows.step.iter().map(|&k| axis.tau(k, model.config.tau)).collect();
        let feature: Vec<f64> = rows.step.iter().map(|&k| axis.feature(axis.times[k + 1])).collect();
        let opt = model.config.energy_optim.build(&model.energy.vs)?;
        let guard = DivergenceGuard::new(&model.energy.vs.trainable_variables());
        let t = StarTrainer {
            all: RowTensors {
                x: crate::tensor::to_tensor(rows.x.view(), device),
                y: crate::tensor::to_tensor(rows.y.view(), device),
                weight: column(&rows.weight, device),
                tau: column(&tau, device).unsqueeze(1),
                feature: column(&feature, device).unsqueeze(1),
                grad_log_density: rows.grad_log_density.as_ref().map(|g| crate::tensor::to_tensor(g.view(), device)),
                step: rows.step.clone(),
            },
            order: (0..rows.len()).collect(),
            cursor: rows.len(),
            epoch_rows: None,
            opt,
            rng: ChaCha8Rng::seed_from_u64(model.config.seed),
            guard,
            iterations: 0,
            precompute_seconds,
            model,
        };
        Ok(t)
    }

    /// Number of coupling rows (all steps).
    pub fn rows(&self) -> usize {
        self.all.step.len()
    }

    /// Start an epoch: shuffle the rows, sort each batch's rows by step (stable; the interaction
    /// term groups them) and gather every per-row tensor in that order once, so that a batch is a
    /// slice (one gather per tensor and epoch instead of per batch).
    fn reshuffle(&mut self) {
        let batch = self.model.config.batch_size;
        self.order.shuffle(&mut self.rng);
        // Sorted per batch in a copy: the next shuffle starts from the shuffled order.
        let mut rows = self.order.clone();
        for chunk in rows.chunks_mut(batch) {
            chunk.sort_by_key(|&i| self.all.step[i]);
        }
        self.epoch_rows = Some(self.all.gather(&rows));
        self.cursor = 0;
    }

    /// The next batch's rows (start, length) in the epoch's order, and its group sizes per step.
    fn next_batch(&mut self) -> (i64, i64, Vec<i64>) {
        let n = self.order.len();
        if self.cursor >= n || self.epoch_rows.is_none() {
            self.reshuffle();
        }
        let start = self.cursor;
        let end = (start + self.model.config.batch_size).min(n);
        self.cursor = end;
        let mut sizes: Vec<i64> = Vec::new();
        let mut last = usize::MAX;
        for &k in &self.epoch_rows.as_ref().expect("shuffled").step[start..end] {
            if k == last {
                *sizes.last_mut().expect("started") += 1;
            } else {
                sizes.push(1);
                last = k;
            }
        }
        (start as i64, (end - start) as i64, sizes)
    }

    fn loss(&mut self) -> Tensor {
        let (start, len, sizes) = self.next_batch();
        let rows = self.epoch_rows.as_ref().expect("shuffled");
        let pick = |t: &Tensor| t.narrow(0, start, len);
        let (x, y, w, tau) = (pick(&rows.x), pick(&rows.y), pick(&rows.weight), pick(&rows.tau));
        let energy = &self.model.energy;
        let mut drift = Tensor::zeros_like(&y);
        if let Some(g) = energy.grad_potential_graph(&y, &pick(&rows.feature)) {
            drift += g;
        }
        if let (Some(th), Some(g)) = (energy.theta3(), &rows.grad_log_density) {
            drift += pick(g) * th;
        }
        if energy.has_interaction() {
            let fields: Vec<Tensor> = y
                .split_with_sizes(&sizes, 0)
                .iter()
                .map(|yk| {
                    let g = energy.pairwise_interaction_graph(yk).expect("interaction present");
                    g.mean_dim([1i64].as_slice(), false, Kind::Float)
                })
                .collect();
            drift += Tensor::cat(&fields, 0);
        }
        let residual = drift * tau + (&y - &x);
        let sq = residual.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        (sq * &w).sum(Kind::Float) / w.sum(Kind::Float)
    }

    fn step_once(&mut self) -> Result<f64> {
        self.guard.check_running()?;
        let loss = self.loss();
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return self.diverged("the loss", value);
        }
        // These parameters gave a finite loss: they are what a later divergence falls back to.
        let params = self.model.energy.vs.trainable_variables();
        self.guard.keep(&params);
        // Non-finite parameters after this update show up as a non-finite loss at the next step,
        // which restores the copy above; the parameters are scanned (a device sync per tensor)
        // only at the end of an epoch, so a finished run never hands out non-finite ones.
        self.model.config.energy_optim.step(&mut self.opt, &loss);
        if (self.iterations + 1).is_multiple_of(self.iterations_per_epoch()) && !crate::train::all_finite(&params) {
            return self.diverged("a parameter", f64::NAN);
        }
        self.iterations += 1;
        Ok(value)
    }

    fn diverged(&mut self, what: &str, value: f64) -> Result<f64> {
        let at = format!("iteration {}", self.iterations + 1);
        Err(self.guard.trip(&self.model.energy.vs.trainable_variables(), what, value, &at))
    }
}

impl Trainer for StarTrainer {
    crate::train::model_field_access!();
    fn step(&mut self) -> Result<(f64, f64)> {
        self.step_once().map(|l| (l, 0.0))
    }
    /// One pass over all couplings in batches.
    fn iterations_per_epoch(&self) -> usize {
        self.rows().div_ceil(self.model.config.batch_size).max(1)
    }
}

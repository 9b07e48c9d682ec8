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
use crate::kernels::StarMlpStep;
use crate::model::{min_energy_parameters, MethodNetworks, Model, StepRule, TimeAxis};
use crate::optim::FlatAdam;
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
    y: Tensor,
    /// y − x.
    displacement: Tensor,
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
        let idx = Tensor::from_slice(&idx).to_device(self.y.device());
        let pick = |t: &Tensor| t.index_select(0, &idx);
        RowTensors {
            y: pick(&self.y),
            displacement: pick(&self.displacement),
            weight: pick(&self.weight),
            tau: pick(&self.tau),
            feature: pick(&self.feature),
            grad_log_density: self.grad_log_density.as_ref().map(pick),
            step: order.iter().map(|&i| self.step[i]).collect(),
        }
    }
}

/// JKOnet*'s training step when V is the energy's only learned term: ∇V and the parameter gradient
/// of the residual loss are written out (no autograd graph), the parameters are one vector and Adam
/// updates it whole. On the CPU the loss and gradient are one call of the fused C++ kernel
/// ([`StarMlpStep`]); elsewhere ≈ 70 tensor operations instead of ≈ 150 with autograd and a
/// per-tensor optimiser. The same loss and update up to floating-point rounding (unit tests compare
/// all three).
struct ExplicitStep {
    /// The energy's parameters as one vector (the network's tensors are views into it).
    flat: Tensor,
    /// The parameter gradient as one vector, and views of it shaped like the parameters (written
    /// in place every step).
    grad: Tensor,
    grad_views: Vec<Tensor>,
    adam: FlatAdam,
    /// The fused loss-and-gradient kernel, where it applies (a float32 CPU network).
    kernel: Option<StarMlpStep>,
}

impl ExplicitStep {
    fn new(net: &crate::nn::Mlp, optim: crate::optim::AdamConfig) -> ExplicitStep {
        let params = net.parameters();
        let flat = crate::nn::flatten_parameters(&params);
        let grad = flat.zeros_like();
        let grad_views = crate::nn::views_like(&grad, &params);
        let kernel = StarMlpStep::new(net, &flat, &grad);
        ExplicitStep { adam: FlatAdam::new(optim, &flat), flat, grad, grad_views, kernel }
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
    /// Set when V is the energy's only learned term: the step without autograd.
    explicit: Option<ExplicitStep>,
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
        let (x, y) = (crate::tensor::to_tensor(rows.x.view(), device), crate::tensor::to_tensor(rows.y.view(), device));
        let tau: Vec<f64> = rows.step.iter().map(|&k| axis.tau(k, model.config.tau)).collect();
        let feature: Vec<f64> = rows.step.iter().map(|&k| axis.feature(axis.times[k + 1])).collect();
        let opt = model.config.energy_optim.build(&model.energy.vs)?;
        let explicit =
            model.energy.sole_potential_network().map(|net| ExplicitStep::new(net, model.config.energy_optim));
        let guard = DivergenceGuard::new(&Self::guarded_parameters(explicit.as_ref(), &model.energy));
        let t = StarTrainer {
            all: RowTensors {
                displacement: &y - &x,
                y,
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
            explicit,
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
        let (y, w, tau) = (pick(&rows.y), pick(&rows.weight), pick(&rows.tau));
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
        let residual = drift * tau + pick(&rows.displacement);
        let sq = residual.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        (sq * &w).sum(Kind::Float) / w.sum(Kind::Float)
    }

    /// The batch's loss on the explicit path; its parameter gradient is written into the step's
    /// gradient vector.
    fn explicit_loss_and_gradient(&mut self) -> Result<f64> {
        let (start, len, _) = self.next_batch();
        let rows = self.epoch_rows.as_ref().expect("shuffled");
        let pick = |t: &Tensor| t.narrow(0, start, len);
        let (y, w, tau) = (pick(&rows.y), pick(&rows.weight), pick(&rows.tau));
        let explicit = self.explicit.as_mut().expect("explicit step");
        let energy = &self.model.energy;
        let time_varying = energy.variant().time_varying;
        if let Some(kernel) = &mut explicit.kernel {
            let feature = time_varying.then(|| pick(&rows.feature));
            return kernel.run(&y, &pick(&rows.displacement), &w, &tau, feature.as_ref());
        }
        let grad_views = &explicit.grad_views;
        let net = energy.sole_potential_network().expect("explicit step: V only");
        let loss = tch::no_grad(|| {
            let input = if time_varying {
                Tensor::cat(&[y.shallow_clone(), pick(&rows.feature)], 1)
            } else {
                y.shallow_clone()
            };
            let tape = net.input_gradient_tape(&input);
            let d = y.size()[1];
            let grad_v = if time_varying { tape.gradient.narrow(1, 0, d) } else { tape.gradient.shallow_clone() };
            let residual = grad_v * &tau + pick(&rows.displacement);
            let weight = (&w / w.sum(Kind::Float)).unsqueeze(1);
            let loss = (residual.square() * &weight).sum(Kind::Float);
            // ∂L/∂(∇V) = 2 w τ r / Σw; the time feature's column gets none.
            let mut cotangent = residual * (weight * &tau * 2.0);
            if time_varying {
                cotangent = Tensor::cat(&[cotangent.shallow_clone(), cotangent.narrow(1, 0, 1).zeros_like()], 1);
            }
            tape.parameter_vjp_into(&cotangent, grad_views);
            loss
        });
        Ok(loss.double_value(&[]))
    }

    /// The tensors the divergence guard copies and restores: the flat vector on the explicit step
    /// (the parameters are views into it), else every trainable variable.
    fn guarded_parameters(explicit: Option<&ExplicitStep>, energy: &Energy) -> Vec<Tensor> {
        match explicit {
            Some(e) => vec![e.flat.shallow_clone()],
            None => energy.vs.trainable_variables(),
        }
    }

    fn step_once(&mut self) -> Result<f64> {
        self.guard.check_running()?;
        // The autograd path keeps its loss tensor for the backward pass.
        let loss = if self.explicit.is_some() { None } else { Some(self.loss()) };
        let value = match &loss {
            Some(l) => l.double_value(&[]),
            None => self.explicit_loss_and_gradient()?,
        };
        if !value.is_finite() {
            return self.diverged("the loss", value);
        }
        // These parameters gave a finite loss: they are what a later divergence falls back to.
        let params = Self::guarded_parameters(self.explicit.as_ref(), &self.model.energy);
        self.guard.keep(&params);
        // Non-finite parameters after this update show up as a non-finite loss at the next step,
        // which restores the copy above; the parameters are scanned (a device sync per tensor)
        // only at the end of an epoch, so a finished run never hands out non-finite ones.
        match (&mut self.explicit, &loss) {
            (Some(e), _) => e.adam.step(&e.flat, &e.grad)?,
            (None, Some(loss)) => self.model.config.energy_optim.step(&mut self.opt, loss),
            (None, None) => unreachable!("the autograd path computed a loss"),
        }
        if (self.iterations + 1).is_multiple_of(self.iterations_per_epoch()) && !crate::train::all_finite(&params) {
            return self.diverged("a parameter", f64::NAN);
        }
        self.iterations += 1;
        Ok(value)
    }

    fn diverged(&mut self, what: &str, value: f64) -> Result<f64> {
        let at = format!("iteration {}", self.iterations + 1);
        let params = Self::guarded_parameters(self.explicit.as_ref(), &self.model.energy);
        Err(self.guard.trip(&params, what, value, &at))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::Rng;

    /// Three paired snapshots drifting towards the origin, with noise.
    fn data() -> Snapshots {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut x = Array2::from_shape_fn((120, 2), |_| rng.random_range(-2.0..2.0));
        let mut clouds = vec![x.clone()];
        for _ in 0..2 {
            x = x.mapv(|v| 0.8 * v + 0.05 * rng.random_range(-1.0..1.0));
            clouds.push(x.clone());
        }
        Snapshots::new(vec![0.0, 0.5, 1.5], clouds).unwrap()
    }

    fn config(variant: &str) -> TrainConfig {
        let mut c = TrainConfig::default();
        for (k, v) in [("device", "cpu"), ("method", "jkonet_star"), ("variant", variant), ("batch_size", "50")] {
            c.set(k, v).unwrap();
        }
        c
    }

    /// The same trainer on the autograd step (the general path every other variant takes).
    fn autograd(mut t: StarTrainer) -> StarTrainer {
        t.explicit = None;
        t.guard = DivergenceGuard::new(&StarTrainer::guarded_parameters(None, &t.model.energy));
        t
    }

    #[test]
    fn the_explicit_step_follows_the_autograd_step() {
        for variant in ["V", "t,V"] {
            let (c, d) = (config(variant), data());
            // On the CPU the explicit step runs the fused kernel; without it, the tensor operations.
            let mut fused = StarTrainer::new(&c, &d).unwrap();
            assert!(
                fused.explicit.as_ref().is_some_and(|e| e.kernel.is_some()),
                "{variant}: V alone, fused on the CPU"
            );
            let mut tensors = StarTrainer::new(&c, &d).unwrap();
            tensors.explicit.as_mut().unwrap().kernel = None;
            let mut slow = autograd(StarTrainer::new(&c, &d).unwrap());
            let mut first = None;
            for i in 0..30 {
                let b = slow.step_once().unwrap();
                for (a, path) in [(fused.step_once().unwrap(), "fused"), (tensors.step_once().unwrap(), "tensor")] {
                    assert!((a - b).abs() <= 1e-4 * b.abs(), "{variant} iteration {i}, {path}: loss {a} against {b}");
                }
                first.get_or_insert(b);
                if i == 29 {
                    // All learned (the loss fell), and to the same parameters.
                    assert!(b < 0.9 * first.unwrap(), "{variant}: loss {} → {b}", first.unwrap());
                }
            }
            let x = d.get(1).unwrap().points.view();
            let g_slow = slow.model.grad_potential(x, 0.5).unwrap();
            let scale = g_slow.mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
            for (t, path) in [(&fused, "fused"), (&tensors, "tensor")] {
                let g = t.model.grad_potential(x, 0.5).unwrap();
                let err = (&g - &g_slow).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
                assert!(err <= 1e-3 * scale, "{variant}, {path}: ∇V differs by {err} (scale {scale})");
            }
        }
    }

    #[test]
    fn other_terms_keep_the_autograd_step() {
        for variant in ["V+W", "V+U", "t,V+W+U"] {
            let t = StarTrainer::new(&config(variant), &data()).unwrap();
            assert!(t.explicit.is_none(), "{variant}");
        }
    }

    #[test]
    fn a_diverging_explicit_step_restores_the_last_finite_parameters() {
        let mut c = config("V");
        c.set("energy_lr", "1e30").unwrap();
        c.set("energy_clip", "none").unwrap();
        let d = data();
        let mut t = StarTrainer::new(&c, &d).unwrap();
        let x = d.get(0).unwrap().points.view();
        // ∇V before the last step that succeeded and before the failing one: the run keeps the
        // parameters of the last finite loss, which is one of the two (the loss of the failing
        // step, or a parameter check after its update, decides which).
        let (mut before_ok, mut before) = (None, t.model.grad_potential(x, 0.0).unwrap());
        let err = loop {
            match t.step_once() {
                Ok(_) => before_ok = Some(std::mem::replace(&mut before, t.model.grad_potential(x, 0.0).unwrap())),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), crate::error::ErrorKind::Numerical, "{err}");
        let kept = t.model.grad_potential(x, 0.0).unwrap();
        assert!(kept.iter().all(|v| v.is_finite()));
        assert!(kept == before || Some(&kept) == before_ok.as_ref(), "the parameters of the last finite loss are kept");
    }
}

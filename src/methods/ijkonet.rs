//! iJKOnet training: the inverse-optimisation min–max objective (spec eq. 14) solved by gradient
//! descent–ascent. The maps T^k play the inner JKO steps for the current energy (minimise), the
//! energy pushes itself down on the data ρ_{k+1} and up on the predictions T^k_#ρ_k (maximise).

use crate::baselines::{AffineMap, GaussianFit};
use crate::config::{Method, TrainConfig};
use crate::data::Snapshots;
use crate::energy::Energy;
use crate::error::{Error, Result};
use crate::maps::TransportMaps;
use crate::model::{by_chunks, min_energy_parameters, MethodNetworks, Model, StepRule, TimeAxis};
use crate::nn::copy_parameters;
use crate::tensor::{to_array, to_tensor};
use crate::train::{batches_per_epoch, expect_method, sample_batch, DivergenceGuard, Trainer, TrainingData};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Default iteration budget of iJKOnet (early stopping usually ends training sooner).
pub const IJKONET_AUTO_ITERATIONS: usize = 10000;

/// iJKOnet's networks: the energy and one learned map T^k per step (shared or not).
pub(crate) const NETWORKS: MethodNetworks = MethodNetworks { build: networks, min_parameters };

/// iJKOnet predicts with its learned maps: step k pushes snapshot k's cells through T^k.
pub struct MapRule {
    maps: TransportMaps,
}

impl StepRule for MapRule {
    fn push_forward(&self, model: &Model, k: usize, z: ArrayView2<f64>) -> Result<Array2<f64>> {
        let feature = model.axis().feature(model.times()[k]);
        by_chunks(z, |zc| {
            let xt = to_tensor(zc, model.device());
            to_array(&tch::no_grad(|| self.maps.forward(k, &xt, feature)))
        })
    }
    fn stores(&self) -> Vec<(&'static str, &nn::VarStore)> {
        vec![("maps", &self.maps.vs)]
    }
    fn maps(&self) -> Option<&TransportMaps> {
        Some(&self.maps)
    }
}

/// Whether `config` builds the Gaussian warm start (affine map base, quadratic part of V).
fn warm_start_applies(config: &TrainConfig) -> bool {
    config.warm_start && config.maps.residual && config.energy.variant.potential
}

/// Fresh, seeded energy and maps, with the warm-start parts (zero quadratic, identity affine base)
/// when they apply. The trainer's live copies are built here too, so they match the model's.
fn new_networks(config: &TrainConfig, dim: usize, axis: &TimeAxis, device: Device) -> Result<(Energy, TransportMaps)> {
    let mut energy = Energy::new(&config.energy, dim, device, config.seed)?;
    let mut maps = TransportMaps::new(&config.maps, dim, axis.steps(), device, config.seed.wrapping_add(1))?;
    if warm_start_applies(config) {
        energy.add_quadratic(axis.quadratic_knots(config.energy.variant.time_varying))?;
        maps.add_affine_base()?;
    }
    Ok((energy, maps))
}

fn networks(config: &TrainConfig, dim: usize, axis: &TimeAxis, device: Device) -> Result<(Energy, Box<dyn StepRule>)> {
    let (energy, maps) = new_networks(config, dim, axis, device)?;
    Ok((energy, Box::new(MapRule { maps })))
}

/// The energy's first layers plus the maps' first and last layers.
fn min_parameters(config: &TrainConfig, dim: usize, steps: usize) -> u128 {
    let width = |w: Option<&i64>| w.map_or(0, |&w| w.max(0) as u128);
    let count = if config.maps.shared { 1 } else { steps as u128 };
    let maps = count * dim as u128 * (width(config.maps.hidden.first()) + width(config.maps.hidden.last()));
    min_energy_parameters(config, dim, steps) + maps
}

/// A training session: the model plus optimiser state, data on the device and the batch sampler.
pub struct IJKOnetTrainer {
    /// The model whose energy is the exponential moving average of `live` (what queries see).
    model: Model,
    /// The energy being optimised. Min–max training makes its iterates oscillate around the
    /// equilibrium; the average is a far steadier estimate of ∇V (Polyak/EMA averaging, as in GANs).
    live: Energy,
    /// The maps being optimised; the model's maps are their exponential moving average, for the
    /// same reason as the energy's (predictions come from the averaged maps).
    live_maps: TransportMaps,
    /// The model's maps' variables (shared with the model): the moving average the trainer updates.
    model_maps: HashMap<String, Tensor>,
    data: Vec<Tensor>,
    energy_opt: nn::Optimizer,
    map_opt: nn::Optimizer,
    rng: ChaCha8Rng,
    /// Refuses steps after a divergence; the fallback is the model's averaged parameters.
    guard: DivergenceGuard,
    iterations: usize,
}

/// Batches of several snapshots stacked row-wise, so each network runs once per loss.
struct Stacked {
    x: Tensor,
    /// Per-row time feature (rows × 1).
    feature: Tensor,
    /// Per-row weight 1/(size of its batch): Σ over a batch's rows of weight·f is its mean.
    weight: Tensor,
    sizes: Vec<i64>,
}

/// A column with `value(b)` repeated over the `sizes[b]` rows of each stacked block b.
fn per_row(sizes: &[i64], value: impl Fn(usize) -> f64, device: tch::Device) -> Tensor {
    let v: Vec<f32> =
        sizes.iter().enumerate().flat_map(|(b, &n)| std::iter::repeat_n(value(b) as f32, n as usize)).collect();
    Tensor::from_slice(&v).to_device(device)
}

impl IJKOnetTrainer {
    /// The trainer [`crate::methods::trainer`] builds: warm start chosen on the validation cells.
    pub(crate) fn for_data(config: &TrainConfig, data: &TrainingData) -> Result<IJKOnetTrainer> {
        let warm = warm_start_maps(data.fits, data.validation)?;
        Self::with_warm_start(config, data.z, Some(&warm))
    }

    /// Prepare training on `data` (validated snapshots, network coordinates). Precomputes the data
    /// entropies when the internal energy is learned; with `warm_start`, the Gaussian fits of
    /// `data` start the maps and V (see [`IJKOnetTrainer::with_warm_start`]).
    pub fn new(config: &TrainConfig, data: &Snapshots) -> Result<IJKOnetTrainer> {
        let maps = if warm_start_applies(config) {
            let fits = data.iter().map(|s| GaussianFit::ledoit_wolf(s.points.view())).collect::<Result<Vec<_>>>()?;
            Some(warm_start_maps(&fits, None)?)
        } else {
            None
        };
        Self::with_warm_start(config, data, maps.as_deref())
    }

    /// As [`IJKOnetTrainer::new`] with given affine maps between consecutive snapshots (network
    /// coordinates, see [`warm_start_maps`]) for the warm start: map k starts at A_k x + c_k, and V
    /// at the quadratic whose JKO step of size τ_k is exactly that map,
    /// ∇V(y) = ((A_k⁻¹ − I) y − A_k⁻¹ c_k)/τ_k (one per step for `t,V`, their mean for `V`).
    /// The min–max game then starts at an equilibrium for first and second moments: the energy's
    /// quadratic part has no gradient, and the networks learn what is not Gaussian.
    pub fn with_warm_start(
        config: &TrainConfig,
        data: &Snapshots,
        warm: Option<&[AffineMap]>,
    ) -> Result<IJKOnetTrainer> {
        expect_method(config, Method::IJKOnet)?;
        let mut model = Model::new(config, data.dim(), data.times(), NETWORKS)?;
        if config.energy.variant.internal {
            // One kNN estimate per snapshot, independent and free of libtorch: in parallel.
            use rayon::prelude::*;
            let snapshots: Vec<_> = data.iter().collect();
            let entropies: Vec<Result<f64>> = snapshots
                .par_iter()
                .map(|s| crate::entropy::estimate(s.points.view(), config.entropy_k.min(s.len() - 1)))
                .collect();
            model.entropies = entropies.into_iter().collect::<Result<_>>()?;
        }
        let device = model.device;
        let (mut live, live_maps) = new_networks(config, data.dim(), &model.axis, device)?;
        if let (true, Some(warm)) = (warm_start_applies(config), warm) {
            if warm.len() + 1 != data.len() || warm.iter().any(|m| m.c.len() != data.dim()) {
                return Err(Error::invalid_argument("warm start: one affine map per step is needed"));
            }
            warm_start(&mut live, &live_maps, &model.axis, config, warm)?;
        }
        let model_maps = model.maps()?.vs.variables();
        copy_parameters(&live.vs.variables(), &model.energy.vs.variables(), 0.0);
        copy_parameters(&live_maps.vs.variables(), &model_maps, 0.0);
        let tensors = data.iter().map(|s| to_tensor(s.points.view(), device)).collect();
        let energy_opt = config.energy_optim.build(&live.vs)?;
        let map_opt = config.map_optim.build(&live_maps.vs)?;
        let t = IJKOnetTrainer {
            model,
            live,
            live_maps,
            model_maps,
            data: tensors,
            energy_opt,
            map_opt,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            guard: DivergenceGuard::without_backup(),
            iterations: 0,
        };
        Ok(t)
    }

    /// Energy updates performed so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    fn parameters(&self) -> Vec<Tensor> {
        let mut v = self.live.vs.trainable_variables();
        v.extend(self.live_maps.vs.trainable_variables());
        v
    }

    /// One fresh batch per snapshot in `snapshots`, stacked row-wise, with per-row time features.
    fn draw(&mut self, snapshots: std::ops::Range<usize>, feature_of: impl Fn(usize) -> f64) -> Stacked {
        let batch = self.model.config.batch_size;
        let device = self.model.device;
        let parts: Vec<Tensor> = snapshots.clone().map(|j| sample_batch(&self.data[j], batch, &mut self.rng)).collect();
        let sizes: Vec<i64> = parts.iter().map(|p| p.size()[0]).collect();
        let start = snapshots.start;
        let feature = per_row(&sizes, |b| feature_of(start + b), device).unsqueeze(1);
        let weight = per_row(&sizes, |b| 1.0 / sizes[b] as f64, device);
        Stacked { x: Tensor::cat(&parts, 0), feature, weight, sizes }
    }

    /// Map-player loss Σ_k [Ĵ(T^k X_k) + ‖X_k − T^k X_k‖²/(2τ_k)] on fresh batches, all steps at once.
    fn map_loss(&mut self) -> Tensor {
        let steps = self.model.axis.steps();
        let axis = self.model.axis.clone();
        let src = self.draw(0..steps, |k| axis.feature(axis.times[k]));
        let next = self.next_features(&src);
        let (y, entropy) = self.push(&src);
        let m = &self.model;
        let tau = per_row(&src.sizes, |k| m.axis.tau(k, m.config.tau), m.device);
        let sq = (&y - &src.x).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let transport = (sq * &src.weight / (tau * 2.0)).sum(Kind::Float);
        self.live.stacked_energy(&y, &next, &src.weight, &src.sizes, entropy.as_ref()) + transport
    }

    /// Time features of the *target* times t_{k+1} for rows stacked by source step k.
    fn next_features(&self, src: &Stacked) -> Tensor {
        let axis = &self.model.axis;
        per_row(&src.sizes, |k| axis.feature(axis.times[k + 1]), self.model.device).unsqueeze(1)
    }

    /// Push stacked batches through their maps; with the internal energy also return
    /// Σ_k [Ĥ(ρ_k) + mean log|det ∇T^k|] (change of variables, spec eq. 25).
    fn push(&mut self, src: &Stacked) -> (Tensor, Option<Tensor>) {
        let m = &self.model;
        let maps = &self.live_maps;
        let apply = |x: &Tensor| maps.forward_stacked(x, &src.feature, &src.sizes);
        if !m.config.energy.variant.internal {
            return (apply(&src.x), None);
        }
        let seed: u64 = self.rng.random();
        let (y, logdet) = maps.with_logdet(&src.x, m.config.logdet, seed, apply);
        let mean_logdet = (logdet * &src.weight).sum(Kind::Float);
        let base: f64 = m.entropies[..src.sizes.len()].iter().sum();
        (y, Some(mean_logdet + base))
    }

    /// Energy-player loss Σ_k [Ĵ(X_{k+1}) − Ĵ(T^k X_k)] with the maps' outputs held fixed.
    fn energy_loss(&mut self) -> Tensor {
        let steps = self.model.axis.steps();
        let axis = self.model.axis.clone();
        let src = self.draw(0..steps, |k| axis.feature(axis.times[k]));
        let dst = self.draw(1..steps + 1, |j| axis.feature(axis.times[j]));
        let next = self.next_features(&src);
        let (pushed, pushed_entropy) = self.push(&src);
        let (pushed, pushed_entropy) = (pushed.detach(), pushed_entropy.map(|h| h.detach()));
        let m = &self.model;
        let data_entropy = m
            .config
            .energy
            .variant
            .internal
            .then(|| Tensor::from(m.entropies[1..].iter().sum::<f64>() as f32).to_device(m.device));
        self.live.stacked_energy(&dst.x, &dst.feature, &dst.weight, &dst.sizes, data_entropy.as_ref())
            - self.live.stacked_energy(&pushed, &next, &src.weight, &src.sizes, pushed_entropy.as_ref())
    }

    /// One training iteration: `map_steps` map updates, then one energy update (gradients summed
    /// over all steps k). Returns (energy loss, mean map loss). On a non-finite loss the last finite
    /// parameters are restored and the trainer refuses further steps.
    fn step_once(&mut self) -> Result<(f64, f64)> {
        self.guard.check_running()?;
        let cfg = self.model.config.clone();
        self.live.set_trainable(false);
        self.live_maps.set_trainable(true);
        // The losses stay on the device and are read once per iteration, with a finiteness probe of
        // every parameter (Σ 0·p is NaN iff some p is not finite): one host synchronisation instead
        // of one per loss and per parameter tensor. A non-finite value found only here has already
        // gone through an optimiser step; the live parameters are then reset from the model's
        // (updated only after this check, so finite).
        let mut map_total = Tensor::zeros([], (tch::Kind::Float, self.model.device));
        for _ in 0..cfg.map_steps {
            let loss = self.map_loss();
            map_total += loss.detach();
            cfg.map_optim.step(&mut self.map_opt, &loss);
        }
        self.live_maps.set_trainable(false);
        self.live.set_trainable(true);
        let loss = self.energy_loss();
        let energy_total = loss.detach();
        cfg.energy_optim.step(&mut self.energy_opt, &loss);
        self.live_maps.set_trainable(true);
        let probe = tch::no_grad(|| {
            let parts: Vec<Tensor> = self.parameters().iter().map(|p| (p * 0.0).sum(tch::Kind::Float)).collect();
            Tensor::stack(&parts, 0).sum(tch::Kind::Float)
        });
        let values =
            Vec::<f64>::try_from(&Tensor::stack(&[energy_total, map_total, probe], 0).to_kind(tch::Kind::Double))?;
        let (energy_value, map_sum) = (values[0], values[1]);
        for (what, v) in [("the map loss", map_sum), ("the energy loss", energy_value), ("a parameter", values[2])] {
            if !v.is_finite() {
                return self.diverged(what, v);
            }
        }
        copy_parameters(&self.live.vs.variables(), &self.model.energy.vs.variables(), cfg.energy_ema);
        copy_parameters(&self.live_maps.vs.variables(), &self.model_maps, cfg.map_ema);
        self.iterations += 1;
        Ok((energy_value, map_sum / cfg.map_steps as f64))
    }

    /// Stop on a non-finite value: the live parameters go back to the model's (the last finite ones,
    /// as averaged) and further steps are refused.
    fn diverged(&mut self, what: &str, value: f64) -> Result<(f64, f64)> {
        copy_parameters(&self.model.energy.vs.variables(), &self.live.vs.variables(), 0.0);
        copy_parameters(&self.model_maps, &self.live_maps.vs.variables(), 0.0);
        self.live.set_trainable(true);
        self.live_maps.set_trainable(true);
        let at = format!("iteration {}", self.iterations + 1);
        Err(self.guard.trip(&[], what, value, &at))
    }
}

impl Trainer for IJKOnetTrainer {
    crate::train::model_field_access!();
    fn step(&mut self) -> Result<(f64, f64)> {
        self.step_once()
    }
    /// One pass over the largest snapshot in batches.
    fn iterations_per_epoch(&self) -> usize {
        batches_per_epoch(&self.data, self.model.config.batch_size)
    }
    fn auto_iterations(&self) -> usize {
        IJKONET_AUTO_ITERATIONS
    }
}

/// Interpolation weights λ tried between the mean shift (0) and the Gaussian OT map (1).
const WARM_START_LAMBDAS: [f64; 5] = [1.0, 0.75, 0.5, 0.25, 0.0];

/// The warm-start map of every step: x ↦ m_{k+1} + A_λ (x − m_k) with A_λ = I + λ(A_k − I),
/// between the mean shift (λ = 0) and the Gaussian OT map A_k (λ = 1). With `validation` clouds
/// (network coordinates), λ is chosen per step by their one-step W1: with few cells per snapshot the
/// covariances are too noisy for the full affine map, which then scrambles more than it explains.
/// Without, λ = 1 when both snapshots have at least 10 cells per dimension, else 0. A_λ stays
/// symmetric positive definite, so it is still an OT map.
pub fn warm_start_maps(fits: &[GaussianFit], validation: Option<&Snapshots>) -> Result<Vec<AffineMap>> {
    (0..fits.len() - 1)
        .map(|k| {
            let full = AffineMap::gaussian_ot(&fits[k], &fits[k + 1])?;
            let at = |lambda: f64| {
                let eye = ndarray::Array2::<f64>::eye(full.a.nrows());
                let a = &eye + &((&full.a - &eye) * lambda);
                let c = &fits[k + 1].mean - &a.dot(&fits[k].mean);
                AffineMap { a, c }
            };
            let Some(val) = validation else {
                // No cells to choose with: the full affine map needs covariances worth trusting
                // (the Ledoit–Wolf fit is still noisy below ~10 cells per dimension), else the mean shift.
                let (d, n) = (full.c.len(), fits[k].samples.min(fits[k + 1].samples));
                return Ok(if n >= 10 * d { full } else { at(0.0) });
            };
            let (src, dst) = (&val.get(k).expect("k in range").points, &val.get(k + 1).expect("k+1 in range").points);
            let preds: Vec<_> = WARM_START_LAMBDAS.iter().map(|&lambda| at(lambda).apply(src.view())).collect();
            let pairs: Vec<_> = preds.iter().map(|p| (p.view(), dst.view())).collect();
            let scores = crate::metrics::ot::w1_many(&pairs)?;
            // The simplest map (smallest λ) within 2 % of the best score: validation W1 on a few
            // cells is noisy, and a noisy covariance costs more than it explains.
            let best = scores.iter().cloned().fold(f64::INFINITY, f64::min);
            let pick = (0..scores.len()).rev().find(|&i| scores[i] <= best * 1.02).expect("the best qualifies");
            Ok(at(WARM_START_LAMBDAS[pick]))
        })
        .collect()
}

/// Set the affine map bases and the quadratic part of V from the warm-start maps (see
/// [`IJKOnetTrainer::with_warm_start`]), and shrink V's network so that V starts at its quadratic.
fn warm_start(
    energy: &mut Energy,
    maps: &TransportMaps,
    axis: &TimeAxis,
    config: &TrainConfig,
    warm: &[AffineMap],
) -> Result<()> {
    let d = warm[0].c.len();
    let flat = |a: &ndarray::Array2<f64>| a.iter().copied().collect::<Vec<f64>>();
    let mut quadratics = Vec::with_capacity(axis.steps());
    for (k, map) in warm.iter().enumerate() {
        maps.set_affine_base(k, &flat(&map.a), map.c.as_slice().expect("contiguous"))?;
        let (lambda, p) = crate::linalg::symmetric_eigen(map.a.view())?;
        let a_inv = p.dot(&ndarray::Array2::from_diag(&lambda.mapv(|l| 1.0 / l))).dot(&p.t());
        let tau = axis.tau(k, config.tau);
        let q = (&a_inv - &ndarray::Array2::<f64>::eye(d)) / tau;
        let b = -a_inv.dot(&map.c) / tau;
        quadratics.push((q, b));
    }
    if config.energy.variant.time_varying {
        for (j, (q, b)) in quadratics.iter().enumerate() {
            energy.set_quadratic(j, &flat(q), b.as_slice().expect("contiguous"))?;
        }
    } else {
        let n = quadratics.len() as f64;
        let q = quadratics.iter().fold(ndarray::Array2::<f64>::zeros((d, d)), |acc, (q, _)| acc + q) / n;
        let b = quadratics.iter().fold(ndarray::Array1::<f64>::zeros(d), |acc, (_, b)| acc + b) / n;
        energy.set_quadratic(0, &flat(&q), b.as_slice().expect("contiguous"))?;
    }
    energy.shrink_potential_output(0.01);
    Ok(())
}

//! A learned population-dynamics model: the energy, the method's step rule ([`StepRule`]: how it
//! predicts one step, and any networks it keeps beside the energy), the time axis of the training
//! data, and everything a user asks of it (prediction, simulation, queries, save/load). This module
//! never names a method: each method supplies its networks through a [`MethodNetworks`], and
//! training lives in [`crate::train`] and [`crate::methods`].

use crate::baselines::{Baseline, Baselines, GaussianFit, Normalisation};
use crate::config::{Method, TimeFeature, TrainConfig};
use crate::data::Snapshots;
use crate::energy::Energy;
use crate::error::{Error, Result};
use crate::maps::TransportMaps;
use crate::nn::{restore_parameters, snapshot_parameters};
use crate::tensor::{check_points, to_array, to_tensor};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::HashMap;
use std::path::Path;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// The observed times and the normalisation that maps them to network time.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeAxis {
    pub times: Vec<f64>,
    /// Mean gap between consecutive snapshots: one unit of normalised time.
    pub scale: f64,
    /// What the networks read as time ([`TimeAxis::feature`]); never `Auto`.
    pub feature_kind: TimeFeature,
}

impl TimeAxis {
    /// `feature_kind` `Auto` means [`TimeFeature::Span`] (methods resolve it before, see
    /// [`TrainConfig::time_feature`]).
    pub fn new(times: Vec<f64>, feature_kind: TimeFeature) -> Result<TimeAxis> {
        if times.len() < 2 || times.windows(2).any(|w| w[1] <= w[0]) || times.iter().any(|t| !t.is_finite()) {
            return Err(Error::invalid_data("times must be at least 2, finite and strictly increasing"));
        }
        let scale = (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64;
        let feature_kind = if feature_kind == TimeFeature::Auto { TimeFeature::Span } else { feature_kind };
        Ok(TimeAxis { times, scale, feature_kind })
    }
    /// Number of JKO steps K (snapshots − 1).
    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }
    /// Network time feature of time t: [0, 1] over the observed span, or the number of mean gaps
    /// since the first snapshot (both extrapolate linearly beyond the observed times).
    pub fn feature(&self, t: f64) -> f64 {
        let t0 = self.times[0];
        match self.feature_kind {
            TimeFeature::Steps => (t - t0) / self.scale,
            TimeFeature::Auto | TimeFeature::Span => (t - t0) / (self.times[self.times.len() - 1] - t0),
        }
    }
    /// Knot time features of the quadratic part of V: t_1 … t_K for a time-varying potential
    /// (step k's energy is evaluated at t_{k+1}), one knot otherwise.
    pub fn quadratic_knots(&self, time_varying: bool) -> Vec<f64> {
        if time_varying {
            self.times[1..].iter().map(|&t| self.feature(t)).collect()
        } else {
            vec![0.0]
        }
    }
    /// Step size of step k in normalised time, for a base τ.
    pub fn tau(&self, k: usize, tau: f64) -> f64 {
        tau * (self.times[k + 1] - self.times[k]) / self.scale
    }
}

/// File format version written into saved models; bump on incompatible changes. Version 2 added
/// the normalisation, the baselines' Gaussian fits and the warm-start tensors; version 1 files
/// still load (identity normalisation, no baselines).
pub const MODEL_FORMAT_VERSION: u32 = 2;

/// What validation-based early stopping did during training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationSummary {
    /// Mean one-step W1 on the validation cells before training (the warm start).
    pub initial_w1: f64,
    /// The best mean one-step W1 seen, and the epoch it was reached (its parameters are kept).
    pub best_w1: f64,
    pub best_epoch: usize,
    /// Epochs run in that training call.
    pub epochs_run: usize,
    /// Why training ended: `budget`, `patience` or `time`.
    pub stop_reason: &'static str,
}

/// A method's own part of a model: how it predicts one step, and the networks it keeps beside the
/// energy. Each method module implements it; the model calls it without knowing the method.
pub trait StepRule: Send {
    /// Snapshot k+1 predicted from points `z` of snapshot k (network coordinates).
    fn push_forward(&self, model: &Model, k: usize, z: ArrayView2<f64>) -> Result<Array2<f64>>;

    /// A JKO step of size `tau` (normalised time) from points `z` with the energy frozen at time
    /// feature `t_feat`, by the method's own solver; `None` uses the model's generic solver (a
    /// fresh residual map fitted by Adam).
    fn jko_step(
        &self,
        _model: &Model,
        _z: ArrayView2<f64>,
        _tau: f64,
        _t_feat: f64,
        _opts: &JkoStepOptions,
    ) -> Option<Result<Array2<f64>>> {
        None
    }

    /// Variable stores beside the energy's and the prefix their variables are saved under.
    fn stores(&self) -> Vec<(&'static str, &nn::VarStore)> {
        Vec::new()
    }

    /// The learned transport maps, for methods that learn them.
    fn maps(&self) -> Option<&TransportMaps> {
        None
    }
}

/// A model's freshly built networks: the energy and the method's step rule.
pub type Networks = (Energy, Box<dyn StepRule>);

/// What the model layer needs from a method to create, load or copy a model of it.
#[derive(Clone, Copy)]
pub struct MethodNetworks {
    /// Fresh, seeded networks for a configuration, data dimension and time axis: the energy and
    /// the step rule (training copies are built by the same function, so they match the model's).
    pub build: fn(&TrainConfig, usize, &TimeAxis, Device) -> Result<Networks>,
    /// A lower bound on the parameters `build` allocates for (config, dim, steps): model files are
    /// checked against it before anything is built.
    pub min_parameters: fn(&TrainConfig, usize, usize) -> u128,
}

/// A trained (or training) model.
pub struct Model {
    pub(crate) config: TrainConfig,
    pub(crate) device: Device,
    pub(crate) energy: Energy,
    /// The method's prediction rule and its extra networks (iJKOnet's maps T^k).
    pub(crate) rule: Box<dyn StepRule>,
    /// How this model's networks are built (copies and loads use it).
    networks: MethodNetworks,
    pub(crate) axis: TimeAxis,
    /// Kozachenko–Leonenko entropy of each training snapshot (empty unless the internal energy is learned).
    pub(crate) entropies: Vec<f64>,
    pub(crate) epochs_done: usize,
    /// z = (x − centre)/scale: the coordinates the networks work in.
    pub(crate) norm: Normalisation,
    /// Gaussian fits of the training snapshots (data units), for the naive predictions.
    pub(crate) baselines: Option<Baselines>,
    pub(crate) validation: Option<ValidationSummary>,
}

/// Rows per network call in queries: bounds the activations of a query on millions of points.
pub const QUERY_CHUNK_ROWS: usize = 1 << 16;
/// Most values (f64) a single query may return (8 GiB): a larger request is an error, not an OOM kill.
pub const MAX_QUERY_VALUES: usize = 1 << 30;
/// Bounds on a model file's dimension and number of snapshot times, checked before building networks.
pub const MAX_FILE_DIM: usize = 1 << 16;
pub const MAX_FILE_TIMES: usize = 1 << 16;

/// Apply `f` to row chunks of `x` and stack the results (queries on large inputs).
pub(crate) fn by_chunks<F>(x: ArrayView2<f64>, mut f: F) -> Result<Array2<f64>>
where
    F: FnMut(ArrayView2<f64>) -> Result<Array2<f64>>,
{
    if x.nrows() <= QUERY_CHUNK_ROWS {
        return f(x);
    }
    let parts: Vec<Array2<f64>> = x.axis_chunks_iter(Axis(0), QUERY_CHUNK_ROWS).map(&mut f).collect::<Result<_>>()?;
    let views: Vec<ArrayView2<f64>> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| Error::internal(format!("stacking query chunks: {e}")))
}

/// One finite time per row.
fn check_row_times(rows: usize, t: &[f64]) -> Result<()> {
    if t.len() != rows {
        return Err(Error::invalid_argument(format!("{} times given for {rows} rows: one time per row", t.len())));
    }
    if let Some(i) = t.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid_argument(format!("time {} of row {i} is not finite", t[i])));
    }
    Ok(())
}

/// A lower bound on the parameters of an MLP energy for `config` and dimension `dim` (its first
/// layers), over any number of steps: the [`MethodNetworks::min_parameters`] of methods whose only
/// networks are the energy's.
pub(crate) fn min_energy_parameters(config: &TrainConfig, dim: usize, _steps: usize) -> u128 {
    let v = config.energy.variant;
    let h0 = config.energy.hidden.first().map_or(0, |&w| w.max(0) as u128);
    (u128::from(v.potential) + u128::from(v.interaction)) * dim as u128 * h0
}

impl Model {
    /// Fresh, untrained networks (built by `networks`) for data of dimension `dim` observed at
    /// `times`, for training: applies the configuration's `threads` ([`Model::apply_threads`]).
    pub(crate) fn new(config: &TrainConfig, dim: usize, times: Vec<f64>, networks: MethodNetworks) -> Result<Model> {
        let model = Model::build(config, dim, times, networks)?;
        model.apply_threads();
        Ok(model)
    }

    fn build(config: &TrainConfig, dim: usize, times: Vec<f64>, networks: MethodNetworks) -> Result<Model> {
        config.validate()?;
        if dim == 0 {
            return Err(Error::invalid_argument("dimension must be at least 1"));
        }
        let device = config.device.resolve()?;
        // The model keeps the resolved time feature and initialisation, so its file says which
        // ones it was trained with, and every method's networks start from the resolved init.
        let mut config = config.clone();
        config.time_feature = config.time_feature();
        config.energy.init = config.energy_init();
        let axis = TimeAxis::new(times, config.time_feature)?;
        let (energy, rule) = (networks.build)(&config, dim, &axis, device)?;
        Ok(Model {
            config,
            device,
            energy,
            rule,
            networks,
            axis,
            entropies: Vec::new(),
            epochs_done: 0,
            norm: Normalisation::identity(dim),
            baselines: None,
            validation: None,
        })
    }

    /// Apply the configuration's `threads` to libtorch's process-wide intra-op thread count (0 =
    /// automatic: 1 on the CPU). [`Model::new`] (used by the trainers) calls it; loading a model does not, so a
    /// host program's own setting survives `Model::load`.
    pub fn apply_threads(&self) {
        match (self.config.threads, self.device) {
            (0, Device::Cpu) => tch::set_num_threads(1),
            (0, _) => {}
            (n, _) => tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX)),
        }
    }

    /// The normalisation between data and network coordinates.
    pub fn normalisation(&self) -> &Normalisation {
        &self.norm
    }

    /// The Gaussian fits of the training snapshots behind the naive predictions (None for models
    /// saved by version 1 of the file format).
    pub fn baselines(&self) -> Option<&Baselines> {
        self.baselines.as_ref()
    }

    /// What early stopping did in the last training call (None without validation).
    pub fn validation_summary(&self) -> Option<&ValidationSummary> {
        self.validation.as_ref()
    }

    /// The baseline fits, or a `State` error for models saved without them (file format version 1).
    pub fn baseline_fits(&self) -> Result<&Baselines> {
        self.baselines.as_ref().ok_or_else(|| {
            Error::state(
                "this model has no baseline fits (it was saved by an older version of the library); retrain it to \
                 get them",
            )
        })
    }

    /// One-step W1 of each naive prediction on `test`, per step, in [`Baseline::ALL`] order.
    pub fn baseline_w1(&self, test: &Snapshots) -> Result<Vec<(Baseline, Vec<f64>)>> {
        let b = self.baseline_fits()?;
        Baseline::ALL.into_iter().map(|kind| Ok((kind, b.one_step_w1(kind, test)?))).collect()
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    pub fn method(&self) -> Method {
        self.config.method
    }
    /// The learned transport maps (iJKOnet models only).
    pub fn maps(&self) -> Result<&TransportMaps> {
        self.rule.maps().ok_or_else(|| {
            Error::state(format!("a {} model has no learned transport maps", self.config.method.display_name()))
        })
    }
    /// The learned energy.
    pub fn energy(&self) -> &Energy {
        &self.energy
    }
    /// The time axis of the training snapshots.
    pub fn axis(&self) -> &TimeAxis {
        &self.axis
    }
    pub fn dim(&self) -> usize {
        self.energy.dim()
    }
    pub fn times(&self) -> &[f64] {
        &self.axis.times
    }
    pub fn device(&self) -> Device {
        self.device
    }
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Index k of an observed time, matched up to 1e-9 of the observed span (times read back from
    /// text or computed in another unit rarely compare equal bit for bit).
    fn time_index(&self, t: f64) -> Option<usize> {
        let times = &self.axis.times;
        let tol = 1e-9 * (times[times.len() - 1] - times[0]).abs().max(f64::MIN_POSITIVE);
        times.iter().position(|&s| (s - t).abs() <= tol)
    }

    /// One-step prediction of snapshot k+1 from points of snapshot k, by the method's own rule:
    /// iJKOnet pushes through its learned map T^k; JKOnet* takes a step of its learned SDE (or the
    /// implicit step for `t,V`); JKOnet solves the JKO step with an ICNN and the frozen energy.
    pub fn push_forward(&self, k: usize, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        check_points(x, self.dim(), "push_forward")?;
        if k >= self.axis.steps() {
            return Err(Error::invalid_argument(format!(
                "step {k} out of range: the model has {} steps (snapshots 0..{})",
                self.axis.steps(),
                self.axis.steps()
            )));
        }
        let z = self.norm.to_model(x);
        let y = self.rule.push_forward(self, k, z.view())?;
        Ok(self.norm.to_data(y.view()))
    }

    /// Chain `steps` learned maps from snapshot `from`: returns the predicted clouds at
    /// t_{from+1}, …, t_{from+steps}.
    pub fn rollout(&self, from: usize, steps: usize, x: ArrayView2<f64>) -> Result<Vec<Array2<f64>>> {
        if steps == 0 || from + steps > self.axis.steps() {
            return Err(Error::invalid_argument(format!(
                "cannot roll out {steps} step(s) from snapshot {from}: the model has {} steps",
                self.axis.steps()
            )));
        }
        let mut out = Vec::with_capacity(steps);
        let mut cur = x.to_owned();
        for k in from..from + steps {
            cur = self.push_forward(k, cur.view())?;
            out.push(cur.clone());
        }
        Ok(out)
    }

    /// Predict the population at time `t_to` from points observed at `t_from`. Between observed
    /// times the learned maps are chained; otherwise one JKO step of size (t_to − t_from) is solved
    /// with the energy frozen (a fresh map is fitted), which also predicts left-out time points.
    pub fn predict_at(&self, x: ArrayView2<f64>, t_from: f64, t_to: f64, opts: &JkoStepOptions) -> Result<Array2<f64>> {
        check_points(x, self.dim(), "predict_at")?;
        if !(t_from.is_finite() && t_to.is_finite() && t_to > t_from) {
            return Err(Error::invalid_argument(format!(
                "need finite times with t_to > t_from, got {t_from} → {t_to}"
            )));
        }
        if let (Some(a), Some(b)) = (self.time_index(t_from), self.time_index(t_to)) {
            return Ok(self.rollout(a, b - a, x)?.pop().expect("at least one step"));
        }
        self.jko_step(x, t_from, t_to - t_from, opts)
    }

    /// One JKO step ρ ↦ argmin J(ρ') + W₂²(ρ, ρ')/(2τ) with the learned energy frozen, solved by
    /// fitting a fresh residual map on the given points. `tau` is in the user's time unit; `t_from` is
    /// used by time-varying potentials (evaluated at t_from + τ).
    pub fn jko_step(&self, x: ArrayView2<f64>, t_from: f64, tau: f64, opts: &JkoStepOptions) -> Result<Array2<f64>> {
        check_points(x, self.dim(), "jko_step")?;
        let z = self.norm.to_model(x);
        let y = self.jko_step_model(z.view(), t_from, tau, opts)?;
        Ok(self.norm.to_data(y.view()))
    }

    /// [`Model::jko_step`] in network coordinates.
    fn jko_step_model(&self, x: ArrayView2<f64>, t_from: f64, tau: f64, opts: &JkoStepOptions) -> Result<Array2<f64>> {
        if !(tau.is_finite() && tau > 0.0) {
            return Err(Error::invalid_argument(format!("JKO step size must be positive and finite, got {tau}")));
        }
        if opts.iterations == 0 || !(opts.lr.is_finite() && opts.lr > 0.0) {
            return Err(Error::invalid_argument("JKO step: iterations ≥ 1 and lr > 0 are required"));
        }
        if let Some(solved) = self.rule.jko_step(self, x, tau / self.axis.scale, self.axis.feature(t_from + tau), opts)
        {
            return solved;
        }
        let cfg = crate::maps::MapConfig { shared: false, residual: true, ..self.config.maps.clone() };
        let mut map = TransportMaps::new(&cfg, self.dim(), 1, self.device, opts.seed)?;
        let mut opt =
            nn::Adam { beta1: 0.5, beta2: 0.9, wd: 0.0, eps: 1e-8, amsgrad: false }.build(&map.vs, opts.lr)?;
        let xt = to_tensor(x, self.device);
        let tau_n = tau / self.axis.scale;
        let t_feat = self.axis.feature(t_from + tau);
        let internal = self.config.energy.variant.internal;
        let base_entropy = if internal {
            crate::entropy::estimate(x, self.config.entropy_k.min(x.nrows().saturating_sub(1)).max(1))?
        } else {
            0.0
        };
        let mut last = None;
        for it in 0..opts.iterations {
            let (y, logdet) = if internal {
                map.with_logdet(&xt, self.config.logdet, opts.seed.wrapping_add(it as u64), |x| map.forward(0, x, 0.0))
            } else {
                (map.forward(0, &xt, 0.0), Tensor::zeros([1], (Kind::Float, self.device)))
            };
            let h = logdet.mean(Kind::Float) + base_entropy;
            let energy = self.energy.batch_energy(&y, t_feat, Some(&h));
            let transport =
                (&y - &xt).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).mean(Kind::Float)
                    / (2.0 * tau_n);
            let loss = energy + transport;
            opt.backward_step(&loss);
            last = Some(loss.double_value(&[]));
        }
        if !last.is_some_and(f64::is_finite) {
            return Err(Error::numerical("JKO step diverged (non-finite loss)"));
        }
        map.set_trainable(false);
        let y = tch::no_grad(|| map.forward(0, &xt, 0.0));
        to_array(&y)
    }

    /// The network time feature of `t`, refused when `t` is not finite or the feature does not fit
    /// the f32 networks (a time of 1e300 would otherwise fail inside libtorch).
    fn check_time(&self, t: f64) -> Result<f64> {
        if !t.is_finite() {
            return Err(Error::invalid_argument(format!("time {t} is not finite")));
        }
        let feature = self.axis.feature(t);
        if feature.abs() > f64::from(f32::MAX) {
            return Err(Error::invalid_argument(format!(
                "time {t} is too far from the snapshot times for the f32 networks"
            )));
        }
        Ok(feature)
    }

    /// Energy values: network units → data units. With x = c + s·z and t = scale·t_n, the flow
    /// dz = −∇_z V_n dt_n is dx = −∇_x V dt for V(x) = (s²/scale) V_n(z).
    fn value_unit(&self) -> f64 {
        self.norm.scale * self.norm.scale / self.axis.scale
    }

    /// Gradients: network units → data units (∇_x V = (s/scale) ∇_z V_n).
    fn gradient_unit(&self) -> f64 {
        self.norm.scale / self.axis.scale
    }

    /// V(x, t) in the user's units (defined up to an additive constant). `t` matters only for `t,V`.
    pub fn potential(&self, x: ArrayView2<f64>, t: f64) -> Result<Array1<f64>> {
        check_points(x, self.dim(), "potential")?;
        self.check_time(t)?;
        self.potential_rows(x, &vec![t; x.nrows()])
    }

    /// ∇V(x, t) in the user's units: the drift of the learned SDE is −∇V.
    pub fn grad_potential(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>> {
        check_points(x, self.dim(), "grad_potential")?;
        self.check_time(t)?;
        self.grad_potential_rows(x, &vec![t; x.nrows()])
    }

    /// Per-row time features (n×1 tensor) for times `t` (user units), checked finite.
    fn time_column(&self, t: &[f64]) -> Result<Tensor> {
        let features: Vec<f32> = t.iter().map(|&ti| self.check_time(ti).map(|f| f as f32)).collect::<Result<_>>()?;
        Ok(Tensor::from_slice(&features).view([-1, 1]).to_device(self.device))
    }

    /// V(x_i, t_i) with one time per row (a particle code whose particles live at different times).
    pub fn potential_rows(&self, x: ArrayView2<f64>, t: &[f64]) -> Result<Array1<f64>> {
        check_points(x, self.dim(), "potential_rows")?;
        check_row_times(x.nrows(), t)?;
        let z = self.norm.to_model(x);
        let mut start = 0;
        let v = by_chunks(z.view(), |zc| {
            let (xt, tc) = (to_tensor(zc, self.device), self.time_column(&t[start..start + zc.nrows()])?);
            start += zc.nrows();
            let v = tch::no_grad(|| self.energy.potential_rows(&xt, &tc))
                .ok_or_else(|| Error::state("this model has no potential term (variant without V)"))?;
            to_array(&(v * self.value_unit()).unsqueeze(1))
        })?;
        Ok(v.column(0).to_owned())
    }

    /// ∇V(x_i, t_i) with one time per row, user units.
    pub fn grad_potential_rows(&self, x: ArrayView2<f64>, t: &[f64]) -> Result<Array2<f64>> {
        check_points(x, self.dim(), "grad_potential_rows")?;
        check_row_times(x.nrows(), t)?;
        let z = self.norm.to_model(x);
        let mut start = 0;
        by_chunks(z.view(), |zc| {
            let (xt, tc) = (to_tensor(zc, self.device), self.time_column(&t[start..start + zc.nrows()])?);
            start += zc.nrows();
            let g = self
                .energy
                .grad_potential_rows(&xt, &tc)
                .ok_or_else(|| Error::state("this model has no potential term (variant without V)"))?;
            to_array(&(g * self.gradient_unit()))
        })
    }

    /// An exact copy with its own networks (same device, same parameters bit for bit): one per
    /// thread lets query-heavy callers (particle codes) run in parallel without sharing tensors.
    pub fn try_clone(&self) -> Result<Model> {
        let mut copy = Model::build(&self.config, self.dim(), self.axis.times.clone(), self.networks)?;
        copy.entropies = self.entropies.clone();
        copy.epochs_done = self.epochs_done;
        copy.norm = self.norm.clone();
        copy.baselines = self.baselines.clone();
        copy.validation = self.validation;
        let (from, to) = (self.all_variables(), copy.all_variables());
        if from.len() != to.len() || from.iter().zip(&to).any(|((a, x), (b, y))| a != b || x.size() != y.size()) {
            return Err(Error::internal("a fresh copy of the model has different networks"));
        }
        tch::no_grad(|| {
            for ((_, src), (_, dst)) in from.iter().zip(&to) {
                dst.shallow_clone().copy_(src);
            }
        });
        Ok(copy)
    }

    /// Interaction field (∇W ∗ ρ)(x) = (1/M) Σ_j ∇W(x_i − y_j) over a population y, user units.
    pub fn interaction_field(&self, x: ArrayView2<f64>, population: ArrayView2<f64>) -> Result<Array2<f64>> {
        check_points(x, self.dim(), "interaction_field")?;
        check_points(population, self.dim(), "interaction_field population")?;
        let (zx, zp) = (self.norm.to_model(x), self.norm.to_model(population));
        let pt = to_tensor(zp.view(), self.device);
        // Energy::interaction_field bounds the pairs per network call; chunking rows here bounds
        // the tensors of one query too.
        by_chunks(zx.view(), |zc| {
            let xt = to_tensor(zc, self.device);
            let g = self
                .energy
                .interaction_field(&xt, &pt)
                .ok_or_else(|| Error::state("this model has no interaction term (variant without W)"))?;
            to_array(&(g * self.gradient_unit()))
        })
    }

    /// Learned diffusion coefficient θ₃ in the user's time unit (0 when the internal energy is off).
    pub fn theta3(&self) -> f64 {
        self.energy.theta3().map_or(0.0, |t| t.double_value(&[]) * self.value_unit())
    }

    /// Simulate the learned SDE dX = −∇V dt − (∇W∗ρ) dt + √(2θ₃) dB by Euler–Maruyama from `x0` at
    /// time `t0`, with `n_steps` steps of size `dt` (user units). Returns n_steps + 1 clouds.
    pub fn simulate(
        &self,
        x0: ArrayView2<f64>,
        t0: f64,
        dt: f64,
        n_steps: usize,
        seed: u64,
    ) -> Result<Vec<Array2<f64>>> {
        check_points(x0, self.dim(), "simulate")?;
        if !(dt.is_finite() && dt > 0.0 && t0.is_finite()) {
            return Err(Error::invalid_argument(format!(
                "simulate: need finite t0 and dt > 0, got t0 = {t0}, dt = {dt}"
            )));
        }
        let values = n_steps.checked_add(1).and_then(|c| c.checked_mul(x0.len()));
        if values.is_none_or(|v| v > MAX_QUERY_VALUES) {
            return Err(Error::invalid_argument(format!(
                "simulate: {n_steps} steps of {} points × {} dimensions would return more than {MAX_QUERY_VALUES} \
                 values; simulate in segments (start each from the last cloud of the previous one)",
                x0.nrows(),
                x0.ncols()
            )));
        }
        let theta3 = self.theta3();
        let noise_std = (2.0 * theta3 * dt).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut traj = Vec::with_capacity(n_steps + 1);
        let mut x = x0.to_owned();
        traj.push(x.clone());
        for s in 0..n_steps {
            let t = t0 + s as f64 * dt;
            let mut drift = Array2::zeros(x.dim());
            if self.config.energy.variant.potential {
                drift -= &self.grad_potential(x.view(), t)?;
            }
            if self.config.energy.variant.interaction {
                drift -= &self.interaction_field(x.view(), x.view())?;
            }
            x = &x + &(drift * dt);
            if noise_std > 0.0 {
                x.mapv_inplace(|v| {
                    let xi: f64 = StandardNormal.sample(&mut rng);
                    v + noise_std * xi
                });
            }
            if x.iter().any(|v| !v.is_finite()) {
                return Err(Error::numerical(format!("simulation diverged at step {}", s + 1)));
            }
            traj.push(x.clone());
        }
        Ok(traj)
    }

    /// Mean and per-step one-step W1 between T^k(held-out ρ_k) and held-out ρ_{k+1}.
    pub fn one_step_w1(&self, test: &Snapshots) -> Result<Vec<f64>> {
        if test.len() != self.axis.times.len() || test.dim() != self.dim() {
            return Err(Error::invalid_argument(format!(
                "evaluation data has {} snapshots of dimension {}, the model expects {} of dimension {}",
                test.len(),
                test.dim(),
                self.axis.times.len(),
                self.dim()
            )));
        }
        crate::metrics::ot::one_step_w1(test, |k, x| self.push_forward(k, x))
    }

    /// Copies of every parameter (energy and maps): what early stopping keeps.
    pub(crate) fn state_snapshot(&self) -> Vec<Tensor> {
        let vars: Vec<Tensor> = self.all_variables().into_iter().map(|(_, t)| t).collect();
        snapshot_parameters(&vars)
    }

    /// Write back a [`Model::state_snapshot`].
    pub(crate) fn restore_state(&mut self, state: &[Tensor]) {
        let vars: Vec<Tensor> = self.all_variables().into_iter().map(|(_, t)| t).collect();
        restore_parameters(&vars, state);
    }

    // ---------------------------------------------------------------- persistence

    fn all_variables(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        let mut stores = vec![("energy", &self.energy.vs)];
        stores.extend(self.rule.stores());
        for (prefix, vs) in stores {
            let mut vars: Vec<_> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(vars.into_iter().map(|(n, t)| (format!("{prefix}/{n}"), t)));
        }
        out
    }

    /// Save weights, configuration, dimension, times and format version as one safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let vars = self.all_variables();
        let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(vars.len());
        for (name, t) in &vars {
            let cpu = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
            let shape: Vec<usize> = cpu.size().iter().map(|&s| s as usize).collect();
            let values = Vec::<f32>::try_from(&cpu.view([-1]))?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            buffers.push((name.clone(), shape, bytes));
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = buffers
            .iter()
            .map(|(n, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map_err(|e| Error::internal(format!("safetensors view: {e:?}")))?;
                Ok((n.clone(), view))
            })
            .collect::<Result<_>>()?;
        let mut meta: HashMap<String, String> =
            self.config.entries().into_iter().map(|(k, v)| (format!("config.{k}"), v)).collect();
        meta.insert("format".into(), "ijkonet-model".into());
        meta.insert("format_version".into(), MODEL_FORMAT_VERSION.to_string());
        meta.insert("method".into(), self.config.method.name().into());
        meta.insert("variant".into(), self.config.energy.variant.to_string());
        meta.insert("dim".into(), self.dim().to_string());
        meta.insert("times".into(), join_f64(&self.axis.times));
        meta.insert("entropies".into(), join_f64(&self.entropies));
        meta.insert("epochs_done".into(), self.epochs_done.to_string());
        meta.insert("normalisation.centre".into(), join_f64(self.norm.centre.as_slice().expect("contiguous")));
        meta.insert("normalisation.scale".into(), join_f64(&[self.norm.scale]));
        if let Some(b) = &self.baselines {
            let means: Vec<f64> = b.fits.iter().flat_map(|f| f.mean.iter().copied()).collect();
            let covs: Vec<f64> = b.fits.iter().flat_map(|f| f.cov.iter().copied()).collect();
            let shrink: Vec<f64> = b.fits.iter().map(|f| f.shrinkage).collect();
            meta.insert("baseline.means".into(), join_f64(&means));
            meta.insert("baseline.covs".into(), join_f64(&covs));
            meta.insert("baseline.shrinkage".into(), join_f64(&shrink));
            let samples: Vec<String> = b.fits.iter().map(|f| f.samples.to_string()).collect();
            meta.insert("baseline.samples".into(), samples.join(","));
        }
        if let Some(v) = &self.validation {
            meta.insert(
                "validation".into(),
                format!("{:e},{:e},{},{},{}", v.initial_w1, v.best_w1, v.best_epoch, v.epochs_run, v.stop_reason),
            );
        }
        let bytes = safetensors::tensor::serialize(views, Some(meta))
            .map_err(|e| Error::internal(format!("cannot serialise the model: {e:?}")))?;
        std::fs::write(path, bytes).map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
    }

    /// Load a model saved by [`Model::save`]. `device` overrides the saved device setting; without
    /// it, a saved CUDA device that this machine lacks falls back to the CPU (a model trained on a
    /// GPU stays usable on a laptop), while an explicitly requested missing device is an error.
    /// Loading leaves the process-wide libtorch thread count alone (see [`Model::apply_threads`]).
    ///
    /// `networks_of` gives the networks of the method named in the file ([`crate::methods`] keeps
    /// that list; `Model::load` is defined there).
    pub(crate) fn load_with(
        path: impl AsRef<Path>,
        device: Option<crate::DeviceSpec>,
        networks_of: fn(Method) -> MethodNetworks,
    ) -> Result<Model> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::io(format!("cannot read {what}: {e}")))?;
        let bad = |m: String| Error::format(format!("{what}: {m}"));
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a model file (safetensors header unreadable: {e:?})")))?;
        let meta = header.metadata().clone().ok_or_else(|| bad("no metadata: not an ijkonet model".into()))?;
        let get = |k: &str| meta.get(k).cloned().ok_or_else(|| bad(format!("missing metadata '{k}'")));
        if get("format")? != "ijkonet-model" {
            return Err(bad("not an ijkonet model".into()));
        }
        let version: u32 = get("format_version")?.parse().map_err(|_| bad("bad format_version".into()))?;
        if version == 0 || version > MODEL_FORMAT_VERSION {
            return Err(bad(format!(
                "model format version {version} is not supported (this library reads version {MODEL_FORMAT_VERSION})"
            )));
        }
        let mut config = TrainConfig::default();
        for key in TrainConfig::keys() {
            if let Some(v) = meta.get(&format!("config.{key}")) {
                config.set(key, v).map_err(|e| bad(e.message().to_string()))?;
            }
        }
        if !meta.contains_key("config.jkonet_psi") {
            // Written before JKOnet's identity-started ψ and decaying inner rate: keep solving its
            // JKO steps the way the model was trained.
            config.jkonet.use_reference_solver();
        }
        if config.variant_auto {
            // The variant `auto` resolved to when the model was trained (the mapping may change).
            if let Some(v) = meta.get("variant") {
                config.energy.variant = v.parse().map_err(|_| bad(format!("bad variant '{v}'")))?;
            }
        }
        let method: Method = get("method")?.parse().map_err(|_| bad("unknown method".into()))?;
        if method != config.method {
            return Err(bad(format!("metadata says method '{method}' but the configuration says '{}'", config.method)));
        }
        match device {
            Some(d) => config.device = d,
            None if config.device.resolve().is_err() => config.device = crate::DeviceSpec::Cpu,
            None => {}
        }
        if version == 1 {
            // Version 1 had no warm start, normalisation or baselines.
            config.warm_start = false;
        }
        if !meta.contains_key("config.time_feature") {
            // Files written before the key existed all used the span feature.
            config.time_feature = TimeFeature::Span;
        }
        let dim: usize = get("dim")?.parse().map_err(|_| bad("bad dim".into()))?;
        let times = split_f64(&get("times")?).map_err(|_| bad("bad times".into()))?;
        if dim == 0 || dim > MAX_FILE_DIM || times.len() > MAX_FILE_TIMES {
            return Err(bad(format!(
                "dimension {dim} or {} snapshot times out of range (at most {MAX_FILE_DIM} and {MAX_FILE_TIMES})",
                times.len()
            )));
        }
        // The stored tensors must be able to hold the networks the configuration describes:
        // checked on the header's shapes before anything is allocated.
        let stored: u128 = header
            .tensors()
            .values()
            .map(|info| info.shape.iter().fold(1u128, |acc, &s| acc.saturating_mul(s as u128)))
            .sum();
        let networks = networks_of(config.method);
        let needed = (networks.min_parameters)(&config, dim, times.len().saturating_sub(1));
        if needed > stored {
            return Err(bad(format!(
                "the configuration needs at least {needed} parameters but the file stores {stored}: corrupt or \
                 not written by ijkonet"
            )));
        }
        let entropies = split_f64(&get("entropies")?).map_err(|_| bad("bad entropies".into()))?;
        let mut model = Model::build(&config, dim, times, networks).map_err(|e| e.context(&what))?;
        model.entropies = entropies;
        if version >= 2 {
            let centre = split_f64(&get("normalisation.centre")?).map_err(|_| bad("bad normalisation".into()))?;
            let scale = split_f64(&get("normalisation.scale")?).map_err(|_| bad("bad normalisation".into()))?;
            if centre.len() != dim || scale.len() != 1 || !(scale[0].is_finite() && scale[0] > 0.0) {
                return Err(bad("bad normalisation".into()));
            }
            model.norm = Normalisation { centre: Array1::from(centre), scale: scale[0] };
            if let Some(means) = meta.get("baseline.means") {
                let n = model.axis.times.len();
                let parse =
                    |k: &str| meta.get(k).map(|s| split_f64(s)).transpose().map_err(|_| bad(format!("bad {k}")));
                let means = split_f64(means).map_err(|_| bad("bad baseline.means".into()))?;
                let covs = parse("baseline.covs")?.unwrap_or_default();
                let shrink = parse("baseline.shrinkage")?.unwrap_or_default();
                let samples: Vec<usize> = meta
                    .get("baseline.samples")
                    .map(|s| s.split(',').map(str::parse).collect::<std::result::Result<_, _>>())
                    .transpose()
                    .map_err(|_| bad("bad baseline.samples".into()))?
                    .unwrap_or_default();
                if means.len() != n * dim || covs.len() != n * dim * dim || shrink.len() != n {
                    return Err(bad("baseline fits do not match the dimension and times".into()));
                }
                let fits = (0..n)
                    .map(|k| GaussianFit {
                        mean: Array1::from(means[k * dim..(k + 1) * dim].to_vec()),
                        cov: Array2::from_shape_vec((dim, dim), covs[k * dim * dim..(k + 1) * dim * dim].to_vec())
                            .expect("sizes checked"),
                        shrinkage: shrink[k],
                        samples: samples.get(k).copied().unwrap_or(0),
                    })
                    .collect();
                model.baselines = Some(Baselines { fits });
            }
            if let Some(v) = meta.get("validation") {
                let p: Vec<&str> = v.split(',').collect();
                let reason = match p.get(4) {
                    Some(&"patience") => "patience",
                    Some(&"time") => "time",
                    _ => "budget",
                };
                if let [a, b, c, d, ..] = p[..] {
                    if let (Ok(a), Ok(b), Ok(c), Ok(d)) = (a.parse(), b.parse(), c.parse(), d.parse()) {
                        model.validation = Some(ValidationSummary {
                            initial_w1: a,
                            best_w1: b,
                            best_epoch: c,
                            epochs_run: d,
                            stop_reason: reason,
                        });
                    }
                }
            }
        }
        model.epochs_done = get("epochs_done")?.parse().map_err(|_| bad("bad epochs_done".into()))?;
        let st =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("corrupt tensor data: {e:?}")))?;
        let vars = model.all_variables();
        if st.names().len() != vars.len() {
            return Err(bad(format!("{} tensors stored, the configuration needs {}", st.names().len(), vars.len())));
        }
        tch::no_grad(|| -> Result<()> {
            for (name, var) in &vars {
                let view = st.tensor(name).map_err(|_| bad(format!("tensor '{name}' missing")))?;
                let shape: Vec<i64> = view.shape().iter().map(|&s| s as i64).collect();
                if view.dtype() != safetensors::Dtype::F32 || shape != var.size() {
                    return Err(bad(format!("tensor '{name}' has shape {shape:?}, expected {:?}", var.size())));
                }
                let values: Vec<f32> =
                    view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(bad(format!("tensor '{name}' holds non-finite values")));
                }
                let src = Tensor::from_slice(&values).view(shape.as_slice()).to_device(var.device());
                var.shallow_clone().copy_(&src);
            }
            Ok(())
        })?;
        Ok(model)
    }
}

fn join_f64(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:e}")).collect::<Vec<_>>().join(",")
}

fn split_f64(s: &str) -> std::result::Result<Vec<f64>, std::num::ParseFloatError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',').map(str::parse::<f64>).collect()
}

/// Settings of a JKO step solved with a frozen energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JkoStepOptions {
    pub iterations: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for JkoStepOptions {
    fn default() -> Self {
        JkoStepOptions { iterations: 500, lr: 1e-2, seed: 0 }
    }
}

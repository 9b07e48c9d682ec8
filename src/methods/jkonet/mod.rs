//! JKOnet: each JKO step is solved by fitting an ICNN whose gradient is the transport map, and the
//! energy is trained through the unrolled inner optimisation (spec `jkonet.md`).
//!
//! One training iteration draws a batch per snapshot; for each transition k it solves the JKO step
//! from batch k ([`inner::solve`]), scores the prediction against batch k+1 with a Sinkhorn loss and
//! differentiates that loss through the inner Adam updates into the energy parameters.
//!
//! Deliberate choices where the reference code and paper differ or have quirks (spec §14):
//! - ψ is re-initialised for every transition from its own seed (derived from the run seed, the
//!   iteration and k); the reference reuses one key for all transitions of a batch, which
//!   correlates their solves for no benefit. Predictions use a fixed seed per step (deterministic).
//! - The inner objective uses means and 1/(2τ_k) with the real step τ_k of the time axis (paper
//!   eq. 9), not the reference's sums with 1/τ.
//! - The prediction is the map after the last inner update (the reference's is one update stale).
//! - Outer loss: the paper's debiased Sinkhorn divergence by default (`jkonet_outer=entropic` gives
//!   the reference code's biased cost); teacher forcing on (the paper's training protocol); one
//!   energy update per transition (the reference; `jkonet_update=summed` for one per iteration).
//! - The energy is trained in place, without the EMA that iJKOnet keeps (`energy_ema` and the
//!   `map_*` keys do not apply); the internal energy U is refused (it would need log det ∇²ψ).

pub mod icnn;
pub mod inner;

use crate::config::Method;
use crate::config::{fmt_layers, parse_bool, parse_f64, parse_layers, parse_num, positive, KeyedOptions, TrainConfig};
use crate::data::Snapshots;
use crate::error::{Error, Result};
use crate::methods::{restore_parameters, sample_batch, snapshot_parameters, Trainer};
use crate::metrics::sinkhorn::{entropic_cost, sinkhorn_divergence, SinkhornOptions};
use crate::model::Model;
use crate::tensor::{to_array, to_tensor};
use icnn::IcnnShape;
use inner::InnerSettings;
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::str::FromStr;
use tch::{nn, Tensor};

/// The outer (fitting) loss between a predicted and an observed cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterLoss {
    /// Debiased Sinkhorn divergence S_ε (the paper, eq. 13).
    Divergence,
    /// Biased entropic cost W_ε (what the reference code trains with).
    Entropic,
}

impl FromStr for OuterLoss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "divergence" | "sinkhorn" => Ok(OuterLoss::Divergence),
            "entropic" | "wasserstein" => Ok(OuterLoss::Entropic),
            _ => Err(Error::invalid_argument(format!(
                "invalid value '{s}' for 'jkonet_outer': expected divergence or entropic"
            ))),
        }
    }
}

impl fmt::Display for OuterLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OuterLoss::Divergence => "divergence",
            OuterLoss::Entropic => "entropic",
        })
    }
}

/// Options of JKOnet (keys listed in [`JkonetConfig::KEYS`]). Defaults follow the reference code
/// and paper (spec §10–11) except where noted.
#[derive(Debug, Clone, PartialEq)]
pub struct JkonetConfig {
    /// Hidden widths of the ICNN ψ (reference 64,64; the paper says three layers).
    pub icnn_hidden: Vec<i64>,
    /// Std of the N(0, std²) initial ICNN kernels.
    pub init_std: f64,
    /// Inner Adam iterations per JKO step during training.
    pub inner_steps: usize,
    pub inner_lr: f64,
    pub inner_beta1: f64,
    pub inner_beta2: f64,
    /// Differentiate through the last `unroll` inner updates only; 0 = all (exact unrolled gradient).
    pub unroll: usize,
    /// Inner iterations when predicting with the trained energy; 0 = same as `inner_steps`.
    pub predict_steps: usize,
    /// Strong-convexity residual ℓ of the map T(x) = ℓx + ∇ψ(x).
    pub cvx_reg: f64,
    pub outer: OuterLoss,
    /// Absolute entropic regularisation ε of the outer loss (squared-distance units).
    pub epsilon: f64,
    /// Start every transition from the observed snapshot (true) or the previous prediction.
    pub teacher_forcing: bool,
    /// One energy update per transition (the reference) rather than one per iteration on the sum.
    pub per_step_update: bool,
}

impl Default for JkonetConfig {
    fn default() -> Self {
        JkonetConfig {
            icnn_hidden: vec![64, 64],
            init_std: 0.1,
            inner_steps: 100,
            inner_lr: 0.01,
            inner_beta1: 0.5,
            inner_beta2: 0.9,
            unroll: 0,
            predict_steps: 0,
            cvx_reg: 0.0,
            outer: OuterLoss::Divergence,
            epsilon: 1.0,
            teacher_forcing: true,
            per_step_update: true,
        }
    }
}

impl KeyedOptions for JkonetConfig {
    const KEYS: &'static [&'static str] = &[
        "jkonet_icnn_hidden",
        "jkonet_init_std",
        "jkonet_inner_steps",
        "jkonet_inner_lr",
        "jkonet_inner_beta1",
        "jkonet_inner_beta2",
        "jkonet_unroll",
        "jkonet_predict_steps",
        "jkonet_cvx_reg",
        "jkonet_outer",
        "jkonet_epsilon",
        "jkonet_teacher_forcing",
        "jkonet_update",
    ];

    fn apply(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "jkonet_icnn_hidden" => self.icnn_hidden = parse_layers(key, value)?,
            "jkonet_init_std" => self.init_std = parse_f64(key, value)?,
            "jkonet_inner_steps" => self.inner_steps = positive(key, value)?,
            "jkonet_inner_lr" => self.inner_lr = parse_f64(key, value)?,
            "jkonet_inner_beta1" => self.inner_beta1 = parse_f64(key, value)?,
            "jkonet_inner_beta2" => self.inner_beta2 = parse_f64(key, value)?,
            "jkonet_unroll" => self.unroll = parse_num(key, value)?,
            "jkonet_predict_steps" => self.predict_steps = parse_num(key, value)?,
            "jkonet_cvx_reg" => self.cvx_reg = parse_f64(key, value)?,
            "jkonet_outer" => self.outer = value.parse()?,
            "jkonet_epsilon" => self.epsilon = parse_f64(key, value)?,
            "jkonet_teacher_forcing" => self.teacher_forcing = parse_bool(key, value)?,
            "jkonet_update" => {
                self.per_step_update = match value.trim() {
                    "per_step" => true,
                    "summed" => false,
                    _ => {
                        return Err(Error::invalid_argument(format!(
                            "invalid value '{value}' for '{key}': expected per_step or summed"
                        )))
                    }
                }
            }
            _ => return Err(Error::invalid_argument(format!("unknown configuration key '{key}'"))),
        }
        Ok(())
    }

    fn get(&self, key: &str) -> String {
        match key {
            "jkonet_icnn_hidden" => fmt_layers(&self.icnn_hidden),
            "jkonet_init_std" => self.init_std.to_string(),
            "jkonet_inner_steps" => self.inner_steps.to_string(),
            "jkonet_inner_lr" => self.inner_lr.to_string(),
            "jkonet_inner_beta1" => self.inner_beta1.to_string(),
            "jkonet_inner_beta2" => self.inner_beta2.to_string(),
            "jkonet_unroll" => self.unroll.to_string(),
            "jkonet_predict_steps" => self.predict_steps.to_string(),
            "jkonet_cvx_reg" => self.cvx_reg.to_string(),
            "jkonet_outer" => self.outer.to_string(),
            "jkonet_epsilon" => self.epsilon.to_string(),
            "jkonet_teacher_forcing" => self.teacher_forcing.to_string(),
            "jkonet_update" => (if self.per_step_update { "per_step" } else { "summed" }).to_string(),
            _ => String::new(),
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::invalid_argument(format!("JKOnet option {what}")));
        if self.init_std <= 0.0 || self.init_std.is_nan() {
            return bad("jkonet_init_std must be > 0");
        }
        if self.inner_lr <= 0.0 || self.inner_lr.is_nan() {
            return bad("jkonet_inner_lr must be > 0");
        }
        if !((0.0..1.0).contains(&self.inner_beta1) && (0.0..1.0).contains(&self.inner_beta2)) {
            return bad("jkonet_inner_beta1 and jkonet_inner_beta2 must lie in [0, 1)");
        }
        if self.cvx_reg < 0.0 || self.cvx_reg.is_nan() {
            return bad("jkonet_cvx_reg must be ≥ 0");
        }
        if self.epsilon <= 0.0 || self.epsilon.is_nan() {
            return bad("jkonet_epsilon must be > 0");
        }
        Ok(())
    }
}

impl JkonetConfig {
    /// Inner-solver settings for data of dimension `dim`; `training` selects the differentiable
    /// training solve, otherwise the frozen-energy prediction solve.
    fn inner(&self, dim: usize, training: bool) -> InnerSettings {
        let steps = if training || self.predict_steps == 0 { self.inner_steps } else { self.predict_steps };
        InnerSettings {
            shape: IcnnShape { dim: dim as i64, hidden: self.icnn_hidden.clone() },
            steps,
            lr: self.inner_lr,
            beta1: self.inner_beta1,
            beta2: self.inner_beta2,
            cvx_reg: self.cvx_reg,
            init_std: self.init_std,
            unroll: match (training, self.unroll) {
                (false, _) => Some(0),
                (true, 0) => None,
                (true, l) => Some(l),
            },
        }
    }

    fn sinkhorn(&self) -> SinkhornOptions {
        SinkhornOptions { epsilon: self.epsilon, ..SinkhornOptions::default() }
    }
}

/// The outer loss between a predicted cloud and an observed one.
pub fn outer_loss(config: &JkonetConfig, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    match config.outer {
        OuterLoss::Divergence => sinkhorn_divergence(pred, target, &config.sinkhorn()),
        OuterLoss::Entropic => entropic_cost(pred, target, &config.sinkhorn()),
    }
}

/// SplitMix64 of (seed, stream): independent-looking ψ initialisation seeds.
fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of the fresh ψ used to predict step k (fixed, so predictions are deterministic).
fn predict_seed(seed: u64, k: usize) -> u64 {
    mix(seed, u64::MAX - k as u64)
}

fn check_variant(config: &TrainConfig) -> Result<()> {
    if config.energy.variant.internal {
        return Err(Error::invalid_argument(format!(
            "JKOnet does not support the internal energy (variant '{}'): the ICNN step would need \
             log det ∇²ψ; use V, t,V, W or V+W",
            config.energy.variant
        )));
    }
    Ok(())
}

fn all_finite(t: &Tensor) -> bool {
    tch::no_grad(|| t.isfinite().all().int64_value(&[]) != 0)
}

/// A JKOnet training session: the model (whose energy is trained in place), the energy optimiser,
/// data on the device and the batch sampler.
pub struct JkonetTrainer {
    model: Model,
    data: Vec<Tensor>,
    opt: nn::Optimizer,
    rng: ChaCha8Rng,
    /// Last energy parameters known to give finite losses, restored when training diverges.
    backup: Vec<Tensor>,
    failed: bool,
    iterations: usize,
}

/// A JKOnet trainer for `config` on `data`.
pub fn trainer(config: &TrainConfig, data: &Snapshots) -> Result<Box<dyn Trainer>> {
    Ok(Box::new(JkonetTrainer::new(config, data)?))
}

impl JkonetTrainer {
    pub fn new(config: &TrainConfig, data: &Snapshots) -> Result<JkonetTrainer> {
        crate::methods::expect_method(config, Method::JKOnet)?;
        check_variant(config)?;
        let model = Model::new(config, data.dim(), data.times())?;
        let device = model.device;
        let tensors = data.iter().map(|s| to_tensor(s.points.view(), device)).collect();
        let opt = config.energy_optim.build(&model.energy.vs)?;
        let mut t = JkonetTrainer {
            model,
            data: tensors,
            opt,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            backup: Vec::new(),
            failed: false,
            iterations: 0,
        };
        t.backup = t.snapshot();
        Ok(t)
    }

    /// Training iterations performed so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    fn snapshot(&self) -> Vec<Tensor> {
        snapshot_parameters(&self.model.energy.vs.trainable_variables())
    }

    fn diverged(&mut self, what: &str, value: f64, k: usize) -> Result<(f64, f64)> {
        restore_parameters(&self.model.energy.vs.trainable_variables(), &self.backup);
        self.failed = true;
        Err(Error::numerical(format!(
            "training diverged: {what} loss is {value} at iteration {}, transition {k}; the last finite \
             parameters were restored",
            self.iterations + 1
        )))
    }

    /// One energy Adam step on the accumulated gradients, after global-norm clipping.
    fn apply_update(&mut self, cfg: &TrainConfig) {
        if let Some(c) = cfg.energy_optim.clip_norm {
            self.opt.clip_grad_norm(c);
        }
        self.opt.step();
    }

    /// One iteration: a fresh batch per snapshot, then for each transition an inner solve, the outer
    /// loss and (per-step mode) an energy update. Returns (Σ_k outer loss, mean final inner loss).
    fn step_once(&mut self) -> Result<(f64, f64)> {
        if self.failed {
            return Err(Error::state("training diverged earlier; the last finite parameters were kept"));
        }
        let cfg = self.model.config.clone();
        let jc = &cfg.jkonet;
        let axis = self.model.axis.clone();
        let steps = axis.steps();
        let batches: Vec<Tensor> = self.data.iter().map(|d| sample_batch(d, cfg.batch_size, &mut self.rng)).collect();
        let settings = jc.inner(self.model.dim(), true);
        if !jc.per_step_update {
            self.opt.zero_grad();
        }
        let (mut outer_sum, mut inner_sum) = (0.0, 0.0);
        let mut input = batches[0].shallow_clone();
        for k in 0..steps {
            if jc.teacher_forcing {
                input = batches[k].shallow_clone();
            }
            let tau = axis.tau(k, cfg.tau);
            let t_feat = axis.feature(axis.times[k + 1]);
            let seed = mix(cfg.seed, (self.iterations * steps + k) as u64 + 1);
            let solved = inner::solve(&self.model.energy, &settings, &input, tau, t_feat, seed);
            if !solved.loss.is_finite() || !all_finite(&solved.y) {
                return self.diverged("inner", solved.loss, k);
            }
            let y = solved.y.set_requires_grad(true);
            let loss = outer_loss(jc, &y, &batches[k + 1])?;
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return self.diverged("outer", value, k);
            }
            let y_bar = Tensor::run_backward(&[loss], &[&y], false, false).pop().expect("one input");
            if jc.per_step_update {
                self.opt.zero_grad();
            }
            if let Some(trace) = &solved.trace {
                inner::backprop(&self.model.energy, &settings, trace, &y_bar);
            }
            if jc.per_step_update {
                self.apply_update(&cfg);
            }
            outer_sum += value;
            inner_sum += solved.loss;
            // Without teacher forcing the next transition starts from this prediction; no gradient
            // flows through it (the reference does not backpropagate through time either).
            input = y.detach();
        }
        if !jc.per_step_update {
            self.apply_update(&cfg);
        }
        if !self.model.energy.vs.trainable_variables().iter().all(all_finite) {
            return self.diverged("parameter", f64::NAN, steps - 1);
        }
        self.backup = self.snapshot();
        self.iterations += 1;
        Ok((outer_sum, inner_sum / steps as f64))
    }
}

impl Trainer for JkonetTrainer {
    fn model(&self) -> &Model {
        &self.model
    }
    fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }
    fn into_model(self: Box<Self>) -> Model {
        self.model
    }
    fn step(&mut self) -> Result<(f64, f64)> {
        self.step_once()
    }
    /// One pass over the largest snapshot in batches.
    fn iterations_per_epoch(&self) -> usize {
        crate::methods::batches_per_epoch(&self.data, self.model.config.batch_size)
    }
    fn finish_epoch(&mut self) {
        self.model.epochs_done += 1;
    }
}

/// Solve one JKO step with the model's frozen energy: step size `tau` and energy time feature
/// `t_feat` in network units, `steps` inner iterations (0 = the configured prediction count).
pub(crate) fn solve_frozen(
    model: &Model,
    x: ArrayView2<f64>,
    tau: f64,
    t_feat: f64,
    steps: usize,
    lr: Option<f64>,
    seed: u64,
) -> Result<Array2<f64>> {
    check_variant(&model.config)?;
    let mut s = model.config.jkonet.inner(model.dim(), false);
    if steps > 0 {
        s.steps = steps;
    }
    if let Some(lr) = lr {
        s.lr = lr;
    }
    let xt = to_tensor(x, model.device);
    let solved = inner::solve(&model.energy, &s, &xt, tau, t_feat, seed);
    if !solved.loss.is_finite() || !all_finite(&solved.y) {
        return Err(Error::numerical(format!("JKO step diverged (inner loss {})", solved.loss)));
    }
    to_array(&solved.y)
}

/// One-step prediction of snapshot k+1 from points of snapshot k with a JKOnet model: the JKO step
/// is re-solved on the given points with the frozen energy (fresh ψ from a fixed seed).
pub fn predict_step(model: &Model, k: usize, x: ArrayView2<f64>) -> Result<Array2<f64>> {
    let axis = &model.axis;
    solve_frozen(
        model,
        x,
        axis.tau(k, model.config.tau),
        axis.feature(axis.times[k + 1]),
        0,
        None,
        predict_seed(model.config.seed, k),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::{Energy, EnergyConfig};
    use tch::{Device, Kind};

    /// A tiny double-precision problem: energy, source cloud, target cloud, inner settings.
    fn tiny(steps: usize, unroll: Option<usize>) -> (Energy, Tensor, Tensor, InnerSettings) {
        let cfg = EnergyConfig { hidden: vec![8], ..EnergyConfig::default() };
        let mut energy = Energy::new(&cfg, 2, Device::Cpu, 7).unwrap();
        energy.vs.double();
        tch::manual_seed(11);
        let x = Tensor::randn([12, 2], (Kind::Double, Device::Cpu));
        let target = Tensor::randn([10, 2], (Kind::Double, Device::Cpu)) * 0.5 + 0.7;
        let s = InnerSettings {
            shape: IcnnShape { dim: 2, hidden: vec![8, 8] },
            steps,
            lr: 0.01,
            beta1: 0.5,
            beta2: 0.9,
            cvx_reg: 0.3,
            init_std: 0.1,
            unroll,
        };
        (energy, x, target, s)
    }

    const OPTS: SinkhornOptions = SinkhornOptions { epsilon: 1.0, max_iter: 20000, tolerance: 1e-13 };

    fn outer_value(energy: &Energy, s: &InnerSettings, x: &Tensor, target: &Tensor) -> f64 {
        let s = InnerSettings { unroll: Some(0), ..s.clone() };
        let y = inner::solve(energy, &s, x, 0.5, 0.0, 3).y;
        sinkhorn_divergence(&y, target, &OPTS).unwrap().double_value(&[])
    }

    /// ∂(outer)/∂ξ from the traced solve, for every energy variable (sorted by name).
    fn hypergradient(energy: &Energy, s: &InnerSettings, x: &Tensor, target: &Tensor) -> Vec<(String, Tensor)> {
        let mut vars: Vec<(String, Tensor)> = energy.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, v) in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let solved = inner::solve(energy, s, x, 0.5, 0.0, 3);
        let y = solved.y.set_requires_grad(true);
        let loss = sinkhorn_divergence(&y, target, &OPTS).unwrap();
        let y_bar = Tensor::run_backward(&[loss], &[&y], false, false).pop().unwrap();
        inner::backprop(energy, s, solved.trace.as_ref().unwrap(), &y_bar);
        // The output bias of V shifts the energy by a constant: it gets no gradient at all.
        vars.into_iter()
            .map(|(n, v)| {
                let g = v.grad();
                (n, if g.defined() { g.copy() } else { v.zeros_like() })
            })
            .collect()
    }

    #[test]
    fn unrolled_hypergradient_matches_finite_differences() {
        let (energy, x, target, s) = tiny(6, None);
        let grads = hypergradient(&energy, &s, &x, &target);
        let vars = energy.vs.variables();
        let h = 1e-6;
        let mut checked = 0;
        for (name, g) in &grads {
            let var = &vars[name];
            let index: Vec<i64> = var.size().iter().map(|_| 0).collect();
            let original = var.double_value(&index);
            let bump = |value: f64| {
                tch::no_grad(|| {
                    let _ = var.shallow_clone().view([-1]).get(0).fill_(value);
                });
                outer_value(&energy, &s, &x, &target)
            };
            let fd = (bump(original + h) - bump(original - h)) / (2.0 * h);
            bump(original);
            let a = g.double_value(&index);
            assert!(
                (fd - a).abs() < 1e-5 * (1.0 + fd.abs()) + 1e-3 * fd.abs(),
                "{name}[0]: unrolled {a:e} vs finite difference {fd:e}"
            );
            if fd.abs() > 1e-6 {
                checked += 1;
            }
        }
        assert!(checked >= 2, "the outer loss should depend on the energy parameters");
    }

    #[test]
    fn unrolling_every_step_is_the_full_hypergradient() {
        let (energy, x, target, s) = tiny(30, None);
        let flat = |g: Vec<(String, Tensor)>| Tensor::cat(&g.iter().map(|(_, t)| t.view([-1])).collect::<Vec<_>>(), 0);
        let full = flat(hypergradient(&energy, &s, &x, &target));
        let all = flat(hypergradient(&energy, &InnerSettings { unroll: Some(30), ..s.clone() }, &x, &target));
        // Unrolling every step is the full gradient.
        assert!((&full - &all).abs().max().double_value(&[]) < 1e-12);
        for l in [1, 5, 10, 20, 29] {
            let short = flat(hypergradient(&energy, &InnerSettings { unroll: Some(l), ..s.clone() }, &x, &target));
            let cos = (&full * &short).sum(Kind::Double) / (full.norm() * short.norm());
            println!("unroll {l}/30: cosine to the full hypergradient {:.3}", cos.double_value(&[]));
        }
    }

    #[test]
    fn options_round_trip_and_reject_bad_values() {
        let mut c = TrainConfig::default();
        for (k, v) in [
            ("jkonet_outer", "entropic"),
            ("jkonet_update", "summed"),
            ("jkonet_icnn_hidden", "16,8"),
            ("jkonet_unroll", "10"),
            ("jkonet_teacher_forcing", "false"),
        ] {
            c.set(k, v).unwrap();
            assert_eq!(c.get(k).unwrap(), v);
        }
        for (k, v) in [
            ("jkonet_outer", "w2"),
            ("jkonet_epsilon", "0"),
            ("jkonet_inner_steps", "0"),
            ("jkonet_inner_beta1", "1"),
            ("jkonet_cvx_reg", "-1"),
            ("jkonet_update", "sometimes"),
        ] {
            let e = c.set(k, v).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{k}={v}");
        }
    }
}

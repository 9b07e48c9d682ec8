//! Training configuration, settable by string key (what the C ABI, the CLI and the model file use,
//! so adding an option never changes a function signature).

use crate::baselines::NormalisationKind;
use crate::device::DeviceSpec;
use crate::energy::{EnergyConfig, Variant};
use crate::error::{Error, Result};
use crate::maps::{LogDetEstimator, MapConfig};
use crate::nn::{Activation, WeightInit};
use crate::optim::AdamConfig;
use std::fmt;
use std::str::FromStr;

pub mod jkonet;
pub mod star;

pub use jkonet::{JkonetConfig, OuterLoss};
pub use star::{CouplingKind, PredictRule, StarConfig};

/// What a time-varying energy's networks read as time t.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFeature {
    /// The method's own choice ([`TrainConfig::time_feature`]).
    Auto,
    /// (t − t₀)/(t_K − t₀): 0 at the first snapshot, 1 at the last.
    Span,
    /// (t − t₀)/mean gap: the number of mean snapshot gaps since the first snapshot (k at snapshot k
    /// when the snapshots are evenly spaced), the unit the JKO step τ is measured in.
    Steps,
}

impl TimeFeature {
    pub fn name(self) -> &'static str {
        match self {
            TimeFeature::Auto => "auto",
            TimeFeature::Span => "span",
            TimeFeature::Steps => "steps",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [TimeFeature::Auto, TimeFeature::Span, TimeFeature::Steps].into_iter().find(|t| t.name() == s)
    }
}

/// The learning method. All of them produce the same [`crate::Model`] (energy, queries, file format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Inverse-optimisation min–max objective with learned transport maps (the main method).
    #[default]
    IJKOnet,
    /// First-order optimality loss on precomputed OT couplings, MLP energy.
    JKOnetStar,
    /// JKOnet* with a linear (polynomial + RBF features) energy, solved in closed form.
    JKOnetStarLinear,
    /// ICNN JKO steps, bilevel training through the unrolled inner optimisation.
    JKOnet,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::IJKOnet, Method::JKOnetStar, Method::JKOnetStarLinear, Method::JKOnet];

    /// The key value (`ijkonet`, `jkonet_star`, `jkonet_star_linear`, `jkonet`).
    pub fn name(self) -> &'static str {
        match self {
            Method::IJKOnet => "ijkonet",
            Method::JKOnetStar => "jkonet_star",
            Method::JKOnetStarLinear => "jkonet_star_linear",
            Method::JKOnet => "jkonet",
        }
    }

    /// The energy variant of `variant = auto`: `t,V` for iJKOnet, whose per-step warm start it
    /// matches and which measured far better on real data; for JKOnet (a time-independent V
    /// learned to move cells between wells at Styblinski's near-stationary late steps); for JKOnet*
    /// (with `V`, its published default, it lost to the mean shift on all four real sets; with
    /// `t,V` it beats or equals the best naive prediction on three; docs/BENCHMARKS.md). `V` for
    /// JKOnet*_l, whose fixed features have no time input.
    pub fn default_variant(self) -> Variant {
        match self {
            Method::IJKOnet | Method::JKOnet | Method::JKOnetStar => Variant::TV,
            Method::JKOnetStarLinear => Variant::V,
        }
    }

    /// The energy's Adam learning rate `energy_lr = auto` gives: 1e-2 for JKOnet, whose energy
    /// gets one update per transition and iteration (a few hundred in a run) and learned nothing
    /// of Styblinski–Tang at 1e-3 in 40 epochs (docs/BENCHMARKS.md); 1e-3 for the others.
    pub fn default_energy_lr(self) -> f64 {
        match self {
            Method::JKOnet => 1e-2,
            _ => 1e-3,
        }
    }

    /// The batch size (cells per snapshot and iteration) `batch_size = auto` gives.
    pub fn default_batch_size(self) -> usize {
        match self {
            Method::JKOnet => JKONET_AUTO_BATCH,
            _ => 250,
        }
    }

    /// The name as the papers write it.
    pub fn display_name(self) -> &'static str {
        match self {
            Method::IJKOnet => "iJKOnet",
            Method::JKOnetStar => "JKOnet*",
            Method::JKOnetStarLinear => "JKOnet*_l",
            Method::JKOnet => "JKOnet",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;
    /// Accepts the key names, case-insensitively, with `*`, `-` or `star` spellings of JKOnet*.
    fn from_str(s: &str) -> Result<Method> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_").replace('*', "_star");
        match norm.as_str() {
            "ijkonet" => Ok(Method::IJKOnet),
            "jkonet_star" | "jkonetstar" => Ok(Method::JKOnetStar),
            "jkonet_star_linear" | "jkonet_star_l" => Ok(Method::JKOnetStarLinear),
            "jkonet" => Ok(Method::JKOnet),
            _ => Err(Error::invalid_argument(format!(
                "invalid value '{s}' for 'method': expected ijkonet, jkonet_star, jkonet_star_linear or jkonet"
            ))),
        }
    }
}

/// A group of options owned by one method, settable by string key like the rest of [`TrainConfig`].
pub(crate) trait KeyedOptions {
    /// The group's keys, in a stable order; they must not collide with any other group's.
    const KEYS: &'static [&'static str];
    /// Set one of `KEYS` (only called with those keys).
    fn apply(&mut self, key: &str, value: &str) -> Result<()>;
    /// The string form of one of `KEYS`.
    fn get(&self, key: &str) -> String;
    fn validate(&self) -> Result<()>;
}

/// Everything that defines a training run. Defaults follow the iJKOnet spec (§6 table), which the
/// paper leaves mostly unstated; they are documented defaults, not published values.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub method: Method,
    pub energy: EnergyConfig,
    /// `variant = auto` (the default): the energy variant follows the method
    /// ([`Method::default_variant`]: `t,V` for iJKOnet, JKOnet and JKOnet*, `V` for JKOnet*_l). Setting a
    /// variant explicitly clears it.
    pub variant_auto: bool,
    /// `energy_lr = auto` (the default): the energy's learning rate follows the method
    /// ([`Method::default_energy_lr`]); setting a rate clears it. Read back as `auto`; the
    /// resolved rate is `energy_optim.lr`.
    pub energy_lr_auto: bool,
    /// `batch_size = auto` (the default): the batch size follows the method
    /// ([`Method::default_batch_size`]); setting a size clears it. Read back as `auto`; the
    /// resolved size is `batch_size`.
    pub batch_auto: bool,
    pub maps: MapConfig,
    pub logdet: LogDetEstimator,
    /// Training length in epochs (passes over the largest snapshot in batches); 0 = `auto`: the
    /// `iterations` budget, or the method's own default, with early stopping on validation.
    pub epochs: usize,
    /// Training length in optimiser iterations when `epochs` is auto; 0 = `auto` (the method's
    /// default budget: 10000 for iJKOnet, 100 epochs for JKOnet* and JKOnet, one solve for the linear method).
    pub iterations: usize,
    /// Fraction of each training snapshot held out (at most 500 cells each) to choose the stopping
    /// point and keep the best parameters; None = `auto` (0.2 for iJKOnet, 0 = off for the others).
    pub validation: Option<f64>,
    /// Iterations without a better validation score before training stops early (0 = never).
    pub patience: usize,
    /// Iterations between validation evaluations (rounded to whole epochs).
    pub eval_interval: usize,
    /// Wall-clock budget in seconds (0 = none): training stops after the first epoch past it and
    /// keeps the best validated parameters.
    pub max_seconds: f64,
    /// Coordinates the networks work in (fitted on the training data, stored in the model).
    pub normalise: NormalisationKind,
    /// Root-mean-square spread of the normalised coordinates (`isotropic` only). 2, not 1: the
    /// softplus networks at their default initialisation are nearly linear over ±1, and at spread 1 the
    /// Styblinski–Tang demo learned no ∇V in 100 epochs (cosine 0.05) while spread 2 gave 0.90; on real
    /// data spread 2 was also better (seed 0: EB 0.540 vs 0.546, weinreb_2d 0.081 vs 0.100; docs/BENCHMARKS.md).
    /// None = `auto`: 1 for JKOnet* (its reference's unit-variance coordinates, which its
    /// initialisation is scaled for), 2 otherwise (see [`TrainConfig::normalise_spread`]).
    pub normalise_spread: Option<f64>,
    /// What the networks of a time-varying energy (`t,V`) read as time (see [`TimeFeature`]).
    pub time_feature: TimeFeature,
    /// iJKOnet: start every map at the Gaussian (affine) OT map between the training snapshots
    /// and V at the quadratic whose JKO step it is (`affine`), or from plain networks (`none`).
    pub warm_start: bool,
    pub batch_size: usize,
    /// Map updates per energy update (M). 5: on EB (t,V, warm start) 10 gave W1 0.542 in 382 s and
    /// 5 gave 0.546 in 212 s (docs/BENCHMARKS.md, "Real data").
    pub map_steps: usize,
    pub energy_optim: AdamConfig,
    /// Decay of the exponential moving average of the energy parameters that the trained model
    /// keeps (0 = the last iterate). iJKOnet and JKOnet (JKOnet with a warm-up, see its trainer);
    /// JKOnet* keeps its last iterate.
    pub energy_ema: f64,
    pub map_optim: AdamConfig,
    /// Decay of the moving average of the map parameters that the model predicts with (0 = the
    /// last iterate). iJKOnet only.
    pub map_ema: f64,
    /// JKO step size for the mean gap between snapshots; step k uses τ·(t_{k+1} − t_k)/mean gap.
    pub tau: f64,
    pub seed: u64,
    pub device: DeviceSpec,
    /// Neighbours for the Kozachenko–Leonenko entropy of the data (internal energy only).
    pub entropy_k: usize,
    /// Intra-op threads for libtorch (process-wide). 0 = automatic: 1 on CPU, where these small
    /// networks are dominated by per-operation overhead and extra threads measured 5× slower on
    /// 2 cores; libtorch's default otherwise.
    pub threads: usize,
    /// Options of JKOnet* (couplings, density estimate, linear features).
    pub star: StarConfig,
    /// Options of JKOnet (ICNN inner solver, outer loss).
    pub jkonet: JkonetConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            method: Method::IJKOnet,
            energy: EnergyConfig { variant: Variant::TV, ..EnergyConfig::default() },
            variant_auto: true,
            energy_lr_auto: true,
            batch_auto: true,
            maps: MapConfig::default(),
            logdet: LogDetEstimator::Exact,
            epochs: 0,
            iterations: 0,
            validation: None,
            patience: 2000,
            eval_interval: 100,
            max_seconds: 0.0,
            normalise: NormalisationKind::Isotropic,
            normalise_spread: None,
            time_feature: TimeFeature::Auto,
            warm_start: true,
            batch_size: 250,
            map_steps: 5,
            energy_optim: AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, clip_norm: Some(10.0) },
            energy_ema: 0.99,
            map_optim: AdamConfig { lr: 1e-2, beta1: 0.5, beta2: 0.9, eps: 1e-8, clip_norm: None },
            map_ema: 0.99,
            tau: 1.0,
            seed: 0,
            device: DeviceSpec::Auto,
            entropy_k: 5,
            threads: 0,
            star: StarConfig::default(),
            jkonet: JkonetConfig::default(),
        }
    }
}

pub(crate) fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| Error::invalid_argument(format!("invalid value '{value}' for '{key}'")))
}

pub(crate) fn parse_f64(key: &str, value: &str) -> Result<f64> {
    let v: f64 = parse_num(key, value)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': not finite")))
    }
}

pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': expected true or false"))),
    }
}

/// Upper bounds that keep a mistaken or crafted configuration (including one read from a model
/// file) from asking for an absurd allocation: far above any sensible value.
pub const MAX_THREADS: usize = 1024;
/// JKOnet's `batch_size = auto`.
pub const JKONET_AUTO_BATCH: usize = 100;
pub const MAX_LAYER_WIDTH: i64 = 1 << 14;
pub const MAX_LAYERS: usize = 64;

pub(crate) fn parse_layers(key: &str, value: &str) -> Result<Vec<i64>> {
    let layers: Vec<i64> = value
        .split([',', 'x', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| parse_num::<i64>(key, s))
        .collect::<Result<_>>()?;
    if layers.is_empty() || layers.iter().any(|&h| h <= 0 || h > MAX_LAYER_WIDTH) || layers.len() > MAX_LAYERS {
        return Err(Error::invalid_argument(format!(
            "invalid value '{value}' for '{key}': expected 1 to {MAX_LAYERS} comma-separated layer widths \
             between 1 and {MAX_LAYER_WIDTH}"
        )));
    }
    Ok(layers)
}

fn parse_activation(key: &str, value: &str) -> Result<Activation> {
    Activation::parse(value.trim()).ok_or_else(|| {
        Error::invalid_argument(format!(
            "invalid value '{value}' for '{key}': expected softplus, selu, relu, tanh or silu"
        ))
    })
}

pub(crate) fn fmt_layers(l: &[i64]) -> String {
    l.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",")
}

impl TrainConfig {
    /// The keys shared by every method, in a stable order (see [`TrainConfig::keys`] for all).
    pub const CORE_KEYS: &'static [&'static str] = &[
        "method",
        "variant",
        "energy_hidden",
        "energy_activation",
        "theta3_init",
        "map_hidden",
        "map_activation",
        "map_shared",
        "map_residual",
        "logdet",
        "epochs",
        "iterations",
        "validation",
        "patience",
        "eval_interval",
        "max_seconds",
        "normalise",
        "normalise_spread",
        "time_feature",
        "energy_init",
        "warm_start",
        "batch_size",
        "map_steps",
        "energy_lr",
        "energy_beta1",
        "energy_beta2",
        "energy_eps",
        "energy_clip",
        "energy_ema",
        "map_lr",
        "map_beta1",
        "map_beta2",
        "map_eps",
        "map_ema",
        "tau",
        "seed",
        "device",
        "entropy_k",
        "threads",
    ];

    /// Every settable key in a stable order: the shared keys, then JKOnet*'s, then JKOnet's.
    pub fn keys() -> Vec<&'static str> {
        let mut k = Self::CORE_KEYS.to_vec();
        k.extend_from_slice(StarConfig::KEYS);
        k.extend_from_slice(JkonetConfig::KEYS);
        k
    }

    /// Set one option from its string form. Unknown keys and invalid values are errors naming them;
    /// on error the configuration is unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let mut next = self.clone();
        next.apply(key, value)?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<()> {
        if StarConfig::KEYS.contains(&key) {
            return self.star.apply(key, value);
        }
        if JkonetConfig::KEYS.contains(&key) {
            return self.jkonet.apply(key, value);
        }
        match key {
            "method" => {
                self.method = value.parse::<Method>()?;
                if self.variant_auto {
                    self.energy.variant = self.method.default_variant();
                }
                if self.energy_lr_auto {
                    self.energy_optim.lr = self.method.default_energy_lr();
                }
                if self.batch_auto {
                    self.batch_size = self.method.default_batch_size();
                }
            }
            "energy_lr" if value.trim() == "auto" => {
                self.energy_lr_auto = true;
                self.energy_optim.lr = self.method.default_energy_lr();
            }
            "batch_size" if value.trim() == "auto" => {
                self.batch_auto = true;
                self.batch_size = self.method.default_batch_size();
            }
            "variant" if value.trim() == "auto" => {
                self.variant_auto = true;
                self.energy.variant = self.method.default_variant();
            }
            "variant" => {
                self.energy.variant = value.parse::<Variant>()?;
                self.variant_auto = false;
            }
            "energy_hidden" => self.energy.hidden = parse_layers(key, value)?,
            "energy_activation" => self.energy.activation = parse_activation(key, value)?,
            "theta3_init" => {
                let v = parse_f64(key, value)?;
                if v <= 0.0 {
                    return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': must be > 0")));
                }
                self.energy.theta3_init = v
            }
            "map_hidden" => self.maps.hidden = parse_layers(key, value)?,
            "map_activation" => self.maps.activation = parse_activation(key, value)?,
            "map_shared" => self.maps.shared = parse_bool(key, value)?,
            "map_residual" => self.maps.residual = parse_bool(key, value)?,
            "logdet" => {
                let v = value.trim();
                self.logdet = if v == "exact" {
                    LogDetEstimator::Exact
                } else if let Some(t) = v.strip_prefix("stochastic") {
                    let terms = match t.strip_prefix(':') {
                        Some(n) => parse_num::<usize>(key, n)?,
                        None if t.is_empty() => 4,
                        None => return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}'"))),
                    };
                    if terms == 0 || terms > 64 {
                        return Err(Error::invalid_argument(format!(
                            "invalid value '{value}' for '{key}': 1..=64 terms"
                        )));
                    }
                    LogDetEstimator::Stochastic { terms }
                } else {
                    return Err(Error::invalid_argument(format!(
                        "invalid value '{value}' for '{key}': expected exact or stochastic[:terms]"
                    )));
                }
            }
            "epochs" => self.epochs = parse_auto_count(key, value)?,
            "iterations" => self.iterations = parse_auto_count(key, value)?,
            "validation" => {
                self.validation = if value.trim() == "auto" {
                    None
                } else {
                    let v = parse_f64(key, value)?;
                    if !(0.0..0.9).contains(&v) {
                        return Err(Error::invalid_argument(format!(
                            "invalid value '{value}' for '{key}': expected auto or a fraction in [0, 0.9)"
                        )));
                    }
                    Some(v)
                }
            }
            "patience" => self.patience = parse_num(key, value)?,
            "eval_interval" => self.eval_interval = positive(key, value)?,
            "max_seconds" => {
                let v = parse_f64(key, value)?;
                if v < 0.0 {
                    return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': must be ≥ 0")));
                }
                self.max_seconds = v
            }
            "normalise" => self.normalise = value.parse()?,
            "normalise_spread" if value.trim() == "auto" => self.normalise_spread = None,
            "normalise_spread" => {
                let v = parse_f64(key, value)?;
                if !(v > 0.0 && v <= 1e3) {
                    return Err(Error::invalid_argument(format!(
                        "invalid value '{value}' for '{key}': need auto or 0 < spread ≤ 1000"
                    )));
                }
                self.normalise_spread = Some(v)
            }
            "time_feature" => {
                self.time_feature = TimeFeature::parse(value.trim()).ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "invalid value '{value}' for '{key}': expected auto, span or steps"
                    ))
                })?
            }
            "energy_init" => {
                self.energy.init = WeightInit::parse(value.trim()).ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "invalid value '{value}' for '{key}': expected auto, uniform or lecun_normal"
                    ))
                })?
            }
            "warm_start" => {
                self.warm_start = match value.trim() {
                    "affine" => true,
                    "none" => false,
                    _ => {
                        return Err(Error::invalid_argument(format!(
                            "invalid value '{value}' for '{key}': expected affine or none"
                        )))
                    }
                }
            }
            "batch_size" => {
                self.batch_size = positive(key, value)?;
                self.batch_auto = false;
            }
            "map_steps" => self.map_steps = positive(key, value)?,
            "energy_lr" => {
                self.energy_optim.lr = parse_f64(key, value)?;
                self.energy_lr_auto = false;
            }
            "energy_beta1" => self.energy_optim.beta1 = parse_f64(key, value)?,
            "energy_beta2" => self.energy_optim.beta2 = parse_f64(key, value)?,
            "energy_eps" => self.energy_optim.eps = parse_f64(key, value)?,
            "energy_clip" => {
                self.energy_optim.clip_norm = if value.trim() == "none" { None } else { Some(parse_f64(key, value)?) }
            }
            "energy_ema" => self.energy_ema = parse_decay(key, value)?,
            "map_ema" => self.map_ema = parse_decay(key, value)?,
            "map_lr" => self.map_optim.lr = parse_f64(key, value)?,
            "map_beta1" => self.map_optim.beta1 = parse_f64(key, value)?,
            "map_beta2" => self.map_optim.beta2 = parse_f64(key, value)?,
            "map_eps" => self.map_optim.eps = parse_f64(key, value)?,
            "tau" => {
                let v = parse_f64(key, value)?;
                if v <= 0.0 {
                    return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': must be > 0")));
                }
                self.tau = v
            }
            "seed" => self.seed = parse_num(key, value)?,
            "device" => self.device = value.parse()?,
            "entropy_k" => self.entropy_k = positive(key, value)?,
            "threads" => {
                let n: usize = parse_num(key, value)?;
                if n > MAX_THREADS {
                    return Err(Error::invalid_argument(format!(
                        "invalid value '{value}' for 'threads': at most {MAX_THREADS} (0 = automatic)"
                    )));
                }
                self.threads = n
            }
            _ => {
                return Err(Error::invalid_argument(format!(
                    "unknown configuration key '{key}' (known keys: {})",
                    Self::keys().join(", ")
                )))
            }
        }
        Ok(())
    }

    /// The value of one key as a string (the inverse of [`TrainConfig::set`]).
    pub fn get(&self, key: &str) -> Result<String> {
        let opt = |c: Option<f64>| c.map_or("none".to_string(), |v| v.to_string());
        if StarConfig::KEYS.contains(&key) {
            return Ok(self.star.get(key));
        }
        if JkonetConfig::KEYS.contains(&key) {
            return Ok(self.jkonet.get(key));
        }
        Ok(match key {
            "method" => self.method.name().into(),
            "variant" if self.variant_auto => "auto".into(),
            "variant" => self.energy.variant.to_string(),
            "energy_hidden" => fmt_layers(&self.energy.hidden),
            "energy_activation" => self.energy.activation.name().into(),
            "theta3_init" => self.energy.theta3_init.to_string(),
            "map_hidden" => fmt_layers(&self.maps.hidden),
            "map_activation" => self.maps.activation.name().into(),
            "map_shared" => self.maps.shared.to_string(),
            "map_residual" => self.maps.residual.to_string(),
            "logdet" => match self.logdet {
                LogDetEstimator::Exact => "exact".into(),
                LogDetEstimator::Stochastic { terms } => format!("stochastic:{terms}"),
            },
            "epochs" => auto_count(self.epochs),
            "iterations" => auto_count(self.iterations),
            "validation" => self.validation.map_or("auto".to_string(), |v| v.to_string()),
            "patience" => self.patience.to_string(),
            "eval_interval" => self.eval_interval.to_string(),
            "max_seconds" => self.max_seconds.to_string(),
            "normalise" => self.normalise.name().into(),
            "normalise_spread" => self.normalise_spread.map_or("auto".to_string(), |v| v.to_string()),
            "time_feature" => self.time_feature.name().into(),
            "energy_init" => self.energy.init.name().into(),
            "warm_start" => (if self.warm_start { "affine" } else { "none" }).into(),
            "batch_size" if self.batch_auto => "auto".into(),
            "batch_size" => self.batch_size.to_string(),
            "map_steps" => self.map_steps.to_string(),
            "energy_lr" if self.energy_lr_auto => "auto".into(),
            "energy_lr" => self.energy_optim.lr.to_string(),
            "energy_beta1" => self.energy_optim.beta1.to_string(),
            "energy_beta2" => self.energy_optim.beta2.to_string(),
            "energy_eps" => self.energy_optim.eps.to_string(),
            "energy_clip" => opt(self.energy_optim.clip_norm),
            "energy_ema" => self.energy_ema.to_string(),
            "map_ema" => self.map_ema.to_string(),
            "map_lr" => self.map_optim.lr.to_string(),
            "map_beta1" => self.map_optim.beta1.to_string(),
            "map_beta2" => self.map_optim.beta2.to_string(),
            "map_eps" => self.map_optim.eps.to_string(),
            "tau" => self.tau.to_string(),
            "seed" => self.seed.to_string(),
            "device" => self.device.to_string(),
            "entropy_k" => self.entropy_k.to_string(),
            "threads" => self.threads.to_string(),
            _ => return Err(Error::invalid_argument(format!("unknown configuration key '{key}'"))),
        })
    }

    /// The spread the coordinates are normalised to: the set value, else 1 for JKOnet* (the scale
    /// its reference trains at: on EB, t,V, Lecun-normal weights at spread 2 gave W1 0.648 ± 0.032
    /// against 0.623 ± 0.006 at spread 1, docs/BENCHMARKS.md) and 2 for the other methods.
    pub fn normalise_spread(&self) -> f64 {
        self.normalise_spread.unwrap_or(if self.method == Method::JKOnetStar { 1.0 } else { 2.0 })
    }

    /// The time feature `auto` resolves to: steps for JKOnet* (its reference's labels), span for
    /// the others.
    pub fn time_feature(&self) -> TimeFeature {
        match self.time_feature {
            TimeFeature::Auto if self.method == Method::JKOnetStar => TimeFeature::Steps,
            TimeFeature::Auto => TimeFeature::Span,
            t => t,
        }
    }

    /// The weight initialisation `auto` resolves to: Lecun-normal for JKOnet* (its reference's:
    /// on EB, t,V, 5 seeds, W1 0.624 ± 0.007 against 0.635 ± 0.014 from uniform weights,
    /// docs/BENCHMARKS.md), uniform for the others.
    pub fn energy_init(&self) -> WeightInit {
        match self.energy.init {
            WeightInit::Auto if self.method == Method::JKOnetStar => WeightInit::LecunNormal,
            WeightInit::Auto => WeightInit::Uniform,
            w => w,
        }
    }

    /// All (key, value) pairs.
    pub fn entries(&self) -> Vec<(String, String)> {
        Self::keys().into_iter().map(|k| (k.to_string(), self.get(k).expect("known key"))).collect()
    }

    pub fn validate(&self) -> Result<()> {
        self.energy_optim.validate("energy")?;
        self.map_optim.validate("map")?;
        if self.batch_size < 2 || self.map_steps == 0 || self.entropy_k == 0 {
            return Err(Error::invalid_argument("batch_size must be ≥ 2, map_steps and entropy_k ≥ 1"));
        }
        self.star.validate()?;
        self.jkonet.validate()
    }
}

/// A moving-average decay in [0, 1).
fn parse_decay(key: &str, value: &str) -> Result<f64> {
    let v = parse_f64(key, value)?;
    if !(0.0..1.0).contains(&v) {
        return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': need 0 ≤ decay < 1")));
    }
    Ok(v)
}

/// `auto` (stored as 0) or a count ≥ 1.
fn parse_auto_count(key: &str, value: &str) -> Result<usize> {
    if value.trim() == "auto" {
        return Ok(0);
    }
    let v: usize = parse_num(key, value)?;
    if v == 0 {
        return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': expected auto or ≥ 1")));
    }
    Ok(v)
}

fn auto_count(v: usize) -> String {
    if v == 0 {
        "auto".into()
    } else {
        v.to_string()
    }
}

impl TrainConfig {
    /// The validation fraction in force (`auto` resolved per method).
    pub fn validation_fraction(&self) -> f64 {
        self.validation.unwrap_or(if self.method == Method::IJKOnet { 0.2 } else { 0.0 })
    }
}

pub(crate) fn positive(key: &str, value: &str) -> Result<usize> {
    let v: usize = parse_num(key, value)?;
    if v == 0 {
        return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': must be ≥ 1")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_string_form() {
        let mut c = TrainConfig::default();
        c.set("variant", "t,V+U").unwrap();
        c.set("energy_hidden", "32,16").unwrap();
        c.set("logdet", "stochastic:3").unwrap();
        c.set("energy_clip", "none").unwrap();
        c.set("device", "cpu").unwrap();
        c.set("map_shared", "false").unwrap();
        c.set("method", "JKOnet*").unwrap();
        c.set("time_feature", "span").unwrap();
        c.set("energy_init", "uniform").unwrap();
        c.set("normalise_spread", "1.5").unwrap();
        assert_eq!(c.method, Method::JKOnetStar);
        let mut d = TrainConfig::default();
        for (k, v) in c.entries() {
            d.set(&k, &v).unwrap();
        }
        assert_eq!(c, d);
        assert_eq!(c.get("variant").unwrap(), "t,V+U");
    }

    #[test]
    fn auto_settings_resolve_per_method_and_explicit_ones_win() {
        let mut c = TrainConfig::default();
        assert_eq!((c.normalise_spread(), c.time_feature()), (2.0, TimeFeature::Span));
        c.set("method", "jkonet_star").unwrap();
        assert_eq!((c.normalise_spread(), c.time_feature()), (1.0, TimeFeature::Steps));
        assert_eq!(
            (c.get("normalise_spread").unwrap(), c.get("time_feature").unwrap()),
            ("auto".into(), "auto".into())
        );
        c.set("normalise_spread", "2").unwrap();
        c.set("time_feature", "span").unwrap();
        assert_eq!((c.normalise_spread(), c.time_feature()), (2.0, TimeFeature::Span));
        c.set("normalise_spread", "auto").unwrap();
        assert_eq!(c.normalise_spread(), 1.0);
        assert_eq!(c.energy_init(), WeightInit::LecunNormal);
        c.set("method", "ijkonet").unwrap();
        assert_eq!(c.energy_init(), WeightInit::Uniform);
        c.set("energy_init", "lecun_normal").unwrap();
        assert_eq!(c.energy_init(), WeightInit::LecunNormal);
        // JKOnet's variant, energy rate and batch follow the method until set explicitly, in
        // whichever order the keys come.
        let mut j = TrainConfig::default();
        j.set("method", "jkonet").unwrap();
        assert_eq!((j.energy.variant, j.energy_optim.lr, j.batch_size), (Variant::TV, 1e-2, 100));
        assert_eq!((j.get("energy_lr").unwrap(), j.get("batch_size").unwrap()), ("auto".into(), "auto".into()));
        let mut k = TrainConfig::default();
        k.set("batch_size", "64").unwrap();
        k.set("energy_lr", "3e-3").unwrap();
        k.set("method", "jkonet").unwrap();
        assert_eq!((k.energy_optim.lr, k.batch_size), (3e-3, 64));
        k.set("method", "ijkonet").unwrap();
        k.set("batch_size", "auto").unwrap();
        k.set("energy_lr", "auto").unwrap();
        assert_eq!((k.energy_optim.lr, k.batch_size), (1e-3, 250));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let mut c = TrainConfig::default();
        let e = c.set("learning_rate", "1").unwrap_err();
        assert!(e.message().contains("unknown configuration key 'learning_rate'"), "{e}");
        for (k, v) in [
            ("epochs", "-3"),
            ("energy_lr", "nan"),
            ("energy_beta1", "1.5"),
            ("variant", "V+X"),
            ("energy_hidden", "64,0"),
            ("tau", "0"),
            ("device", "tpu"),
            ("map_shared", "maybe"),
            ("batch_size", "0"),
            ("method", "jkonet2"),
            ("time_feature", "days"),
            ("energy_init", "xavier"),
            ("normalise_spread", "-1"),
        ] {
            let before = c.clone();
            let e = c.set(k, v).unwrap_err();
            assert!(e.message().contains(k) || e.message().contains(v), "{k}={v}: {e}");
            assert_eq!(c, before, "a rejected value must leave the configuration unchanged");
        }
    }
}

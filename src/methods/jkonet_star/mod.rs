//! JKOnet*: the energy is fitted to the first-order optimality condition of each JKO step on
//! precomputed optimal-transport couplings between consecutive snapshots (spec `jkonet_star.md`).
//!
//! For a coupling (x, y) of step k, with τ_k the step in normalised time, the JKO optimality
//! condition reads τ_k(∇V(y) + θ₃∇log ρ_{k+1}(y) + (∇W ∗ ρ_{k+1})(y)) + (y − x) = 0. The MLP variant
//! ([`mlp`]) minimises its squared residual by Adam on batches of couplings; the linear variant
//! ([`linear`], [`closed_form`]) writes it at x (the explicit condition) and solves a ridge problem.

pub mod closed_form;
pub mod couplings;
pub mod density;
pub mod linear;
pub mod mlp;

use crate::config::{parse_f64, parse_num, KeyedOptions, Method, TrainConfig};
use crate::data::Snapshots;
use crate::error::{Error, Result};
use crate::methods::Trainer;
use crate::model::Model;
use crate::tensor::{to_array, to_tensor};
use linear::FeatureSpec;
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::fmt;
use std::str::FromStr;
use tch::Tensor;

/// How the couplings between consecutive snapshots are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CouplingKind {
    /// Exact OT (network simplex), squared Euclidean cost.
    #[default]
    Exact,
    /// Entropic OT (log-domain Sinkhorn) with absolute ε; small plan entries dropped.
    Sinkhorn,
}

/// How a JKOnet* model predicts the next snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PredictRule {
    /// Implicit for the MLP energy (it is trained on the condition at y), explicit for the
    /// linear one (trained at x).
    #[default]
    Auto,
    /// y = x − τ(∇V(x) + ∇W∗ρ(x)) + √(2θ₃τ) ξ.
    Explicit,
    /// 50 fixed-point iterations y ← x − τ(∇V(y) + ∇W∗ρ_x(x)), then the noise.
    Implicit,
}

impl fmt::Display for PredictRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PredictRule::Auto => "auto",
            PredictRule::Explicit => "explicit",
            PredictRule::Implicit => "implicit",
        })
    }
}

impl FromStr for PredictRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "auto" => Ok(PredictRule::Auto),
            "explicit" => Ok(PredictRule::Explicit),
            "implicit" => Ok(PredictRule::Implicit),
            _ => Err(Error::invalid_argument(format!(
                "invalid value '{s}' for 'star_predict': expected auto, explicit or implicit"
            ))),
        }
    }
}

/// Options of JKOnet* (keys listed in [`StarConfig::KEYS`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StarConfig {
    pub coupling: CouplingKind,
    /// Largest OT problem solved at once: bigger snapshots are split into random blocks of at most
    /// this many points (0 = never split).
    pub block: usize,
    /// Sinkhorn ε (absolute, on the squared Euclidean cost).
    pub epsilon: f64,
    /// Components of the per-snapshot Gaussian mixture that estimates ∇log ρ (internal energy).
    pub gmm_components: usize,
    pub predict: PredictRule,
    /// Linear features: monomial degree per coordinate, RBF centres per dimension, RBF width.
    pub poly_degree: usize,
    pub rbf_centres: usize,
    pub rbf_sigma: f64,
    /// Ridge λ of the closed form.
    pub ridge: f64,
}

impl Default for StarConfig {
    fn default() -> Self {
        StarConfig {
            coupling: CouplingKind::Exact,
            block: 2000,
            epsilon: 0.1,
            gmm_components: 10,
            predict: PredictRule::Auto,
            poly_degree: 4,
            rbf_centres: 10,
            rbf_sigma: 0.5,
            ridge: 0.01,
        }
    }
}

impl StarConfig {
    pub fn feature_spec(&self) -> FeatureSpec {
        FeatureSpec { degree: self.poly_degree, centres: self.rbf_centres, sigma: self.rbf_sigma }
    }
}

impl KeyedOptions for StarConfig {
    const KEYS: &'static [&'static str] = &[
        "star_coupling",
        "star_block",
        "star_epsilon",
        "star_gmm_components",
        "star_predict",
        "star_poly_degree",
        "star_rbf_centres",
        "star_rbf_sigma",
        "star_ridge",
    ];
    fn apply(&mut self, key: &str, value: &str) -> Result<()> {
        let positive_f64 = |v: &str| -> Result<f64> {
            let x = parse_f64(key, v)?;
            if x > 0.0 {
                Ok(x)
            } else {
                Err(Error::invalid_argument(format!("invalid value '{v}' for '{key}': must be > 0")))
            }
        };
        match key {
            "star_coupling" => {
                self.coupling = match value.trim() {
                    "exact" => CouplingKind::Exact,
                    "sinkhorn" => CouplingKind::Sinkhorn,
                    _ => {
                        return Err(Error::invalid_argument(format!(
                            "invalid value '{value}' for '{key}': expected exact or sinkhorn"
                        )))
                    }
                }
            }
            "star_block" => {
                let b: usize = parse_num(key, value)?;
                if b == 1 {
                    return Err(Error::invalid_argument(format!(
                        "invalid value '{value}' for '{key}': blocks need at least 2 points (0 = no blocks)"
                    )));
                }
                self.block = b
            }
            "star_epsilon" => self.epsilon = positive_f64(value)?,
            "star_gmm_components" => self.gmm_components = crate::config::positive(key, value)?,
            "star_predict" => self.predict = value.parse()?,
            "star_poly_degree" => self.poly_degree = parse_num(key, value)?,
            "star_rbf_centres" => self.rbf_centres = parse_num(key, value)?,
            "star_rbf_sigma" => self.rbf_sigma = positive_f64(value)?,
            "star_ridge" => {
                let r = parse_f64(key, value)?;
                if r < 0.0 {
                    return Err(Error::invalid_argument(format!("invalid value '{value}' for '{key}': must be ≥ 0")));
                }
                self.ridge = r
            }
            _ => return Err(Error::invalid_argument(format!("unknown configuration key '{key}'"))),
        }
        Ok(())
    }
    fn get(&self, key: &str) -> String {
        match key {
            "star_coupling" => match self.coupling {
                CouplingKind::Exact => "exact".into(),
                CouplingKind::Sinkhorn => "sinkhorn".into(),
            },
            "star_block" => self.block.to_string(),
            "star_epsilon" => self.epsilon.to_string(),
            "star_gmm_components" => self.gmm_components.to_string(),
            "star_predict" => self.predict.to_string(),
            "star_poly_degree" => self.poly_degree.to_string(),
            "star_rbf_centres" => self.rbf_centres.to_string(),
            "star_rbf_sigma" => self.rbf_sigma.to_string(),
            "star_ridge" => self.ridge.to_string(),
            _ => String::new(),
        }
    }
    fn validate(&self) -> Result<()> {
        if self.poly_degree == 0 && self.rbf_centres == 0 {
            return Err(Error::invalid_argument("star_poly_degree and star_rbf_centres cannot both be 0"));
        }
        Ok(())
    }
}

/// A JKOnet* trainer (MLP energy, or the linear closed form) for `config` on `data`.
pub fn trainer(config: &TrainConfig, data: &Snapshots) -> Result<Box<dyn Trainer>> {
    match config.method {
        Method::JKOnetStar => Ok(Box::new(mlp::StarTrainer::new(config, data)?)),
        Method::JKOnetStarLinear => Ok(Box::new(closed_form::LinearTrainer::new(config, data)?)),
        m => Err(Error::invalid_argument(format!("the JKOnet* trainer was given a configuration for method '{m}'"))),
    }
}

/// Fixed-point iterations of the implicit prediction (the reference's count).
const IMPLICIT_ITERATIONS: usize = 50;

/// One-step prediction of snapshot k+1 from points of snapshot k with a JKOnet* model: a step of
/// the learned SDE of size τ_k, explicit or implicit in the drift (see [`PredictRule`]), plus
/// √(2θ₃τ_k) Gaussian noise (seeded by the configuration's seed and k, so repeatable).
pub fn predict_step(model: &Model, k: usize, x: ArrayView2<f64>) -> Result<Array2<f64>> {
    let cfg = &model.config;
    let energy = &model.energy;
    let tau = model.axis.tau(k, cfg.tau);
    let tf = model.axis.feature(model.axis.times[k + 1]);
    let implicit = match cfg.star.predict {
        PredictRule::Explicit => false,
        PredictRule::Implicit => true,
        PredictRule::Auto => cfg.method == Method::JKOnetStar,
    };
    let x0 = to_tensor(x, model.device);
    // The interaction field is evaluated once, at the current population (semi-implicit): an
    // O(n²) network pass per fixed-point iteration would cost 50× more for a change of O(τ²).
    let mut base = x0.shallow_clone();
    if let Some(g) = energy.interaction_field(&x0, &x0) {
        base -= g * tau;
    }
    let step = |p: &Tensor| -> Tensor {
        match energy.grad_potential(p, tf) {
            Some(g) => &base - g * tau,
            None => base.shallow_clone(),
        }
    };
    let mut y = step(&x0);
    if implicit {
        for _ in 1..IMPLICIT_ITERATIONS {
            y = step(&y);
        }
    }
    let mut out = to_array(&y.detach())?;
    let theta3 = energy.theta3().map_or(0.0, |t| t.double_value(&[]));
    if theta3 > 0.0 {
        let std = (2.0 * theta3 * tau).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k as u64 + 1)));
        out.mapv_inplace(|v| {
            let xi: f64 = StandardNormal.sample(&mut rng);
            v + std * xi
        });
    }
    if let Some(((i, j), _)) = out.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::numerical(format!(
            "JKOnet* prediction of step {k} is not finite (row {i}, column {j}){}",
            if implicit { "; the implicit iteration diverged, try star_predict=explicit" } else { "" }
        )));
    }
    Ok(out)
}

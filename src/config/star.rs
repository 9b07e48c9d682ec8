//! Options of JKOnet* (the `star_*` keys): plain data, parsed here so that the configuration layer
//! does not depend on the method that reads them.

use super::{parse_f64, parse_num, KeyedOptions};
use crate::energy::linear::FeatureSpec;
use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

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
    /// this many points (0 = never split). 5000: a block plan couples random halves, not the
    /// clouds, and on EB (training snapshots of 1428–2497 cells) blocks of 2000 cost t,V 0.03 of
    /// W1 (0.665 → 0.634); one 5000 × 5000 problem takes ≈ 2 s and a 200 MB cost matrix.
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
            block: 5000,
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

//! Options of JKOnet (the `jkonet_*` keys): plain data, parsed here so that the configuration
//! layer does not depend on the method that reads them.

use super::{fmt_layers, parse_bool, parse_f64, parse_layers, parse_num, positive, KeyedOptions};
use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// `FromStr` (case-insensitive, with aliases) and `Display` (the first name) for a small option
/// enum, whose parse errors name the key and the accepted values.
macro_rules! option_enum {
    ($ty:ident, $key:literal, { $($variant:ident => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($name $(| $alias)* => Ok($ty::$variant),)+
                    _ => Err(Error::invalid_argument(format!(
                        "invalid value '{s}' for '{}': expected {}",
                        $key,
                        [$($name),+].join(" or ")
                    ))),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $($ty::$variant => $name,)+
                })
            }
        }
    };
}

/// The outer (fitting) loss between a predicted and an observed cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterLoss {
    /// Debiased Sinkhorn divergence S_ε (the paper, eq. 13).
    Divergence,
    /// Biased entropic cost W_ε (what the reference code trains with).
    Entropic,
}

option_enum!(OuterLoss, "jkonet_outer", { Divergence => "divergence" | "sinkhorn", Entropic => "entropic" | "wasserstein" });

/// How ψ is parametrised and where its map starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsiInit {
    /// ψ(x) = ½‖Lᵀx‖² + ICNN(x) with L = I and small ICNN kernels at the start, so that ∇ψ starts
    /// near the identity (the JKO step's answer for a flat energy). L is learned, so ψ stays any
    /// convex function (with Hessian ≥ LLᵀ, and L may shrink).
    Identity,
    /// The reference's ICNN alone (spec §2): its ∇ψ starts far from the identity.
    Reference,
}

option_enum!(PsiInit, "jkonet_psi", { Identity => "identity", Reference => "reference" });

/// Learning-rate schedule of the inner Adam.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerSchedule {
    /// lr · (S − t + 1)/S at update t = 1..S: from lr down to lr/S at the last update.
    Linear,
    /// lr at every update (the reference).
    Constant,
}

option_enum!(InnerSchedule, "jkonet_inner_schedule", { Linear => "linear", Constant => "constant" });

/// Options of JKOnet (keys listed in [`JkonetConfig::KEYS`]). Defaults follow the reference code
/// and paper (spec §10–11) except where noted.
#[derive(Debug, Clone, PartialEq)]
pub struct JkonetConfig {
    /// Hidden widths of the ICNN ψ (reference 64,64; the paper says three layers).
    pub icnn_hidden: Vec<i64>,
    /// Parametrisation and starting map of ψ (the reference's ICNN alone, or identity-started).
    pub psi: PsiInit,
    /// Std of the N(0, std²) initial ICNN kernels (the reference's 0.1; 0.03 by default so that
    /// the ICNN part of the identity-started ψ starts small). With `identity`, the raw z-kernels
    /// are centred so that softplus(K) ≈ 1/fan-in.
    pub init_std: f64,
    /// Inner Adam iterations per JKO step during training (the reference's 100 at lr 0.01; from
    /// the identity start with a decaying rate 30 at lr 0.05 are more accurate and 3× cheaper).
    pub inner_steps: usize,
    pub inner_lr: f64,
    pub inner_beta1: f64,
    pub inner_beta2: f64,
    /// Learning-rate schedule of the inner Adam (the reference's is constant).
    pub inner_schedule: InnerSchedule,
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
            psi: PsiInit::Identity,
            init_std: 0.03,
            inner_steps: 30,
            inner_lr: 0.05,
            inner_beta1: 0.5,
            inner_beta2: 0.9,
            inner_schedule: InnerSchedule::Linear,
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

impl JkonetConfig {
    /// Files written before `jkonet_psi` and `jkonet_inner_schedule` existed used the reference's
    /// solver: a model loaded from one keeps predicting as it was trained.
    pub fn use_reference_solver(&mut self) {
        self.psi = PsiInit::Reference;
        self.inner_schedule = InnerSchedule::Constant;
    }
}

impl KeyedOptions for JkonetConfig {
    const KEYS: &'static [&'static str] = &[
        "jkonet_icnn_hidden",
        "jkonet_psi",
        "jkonet_init_std",
        "jkonet_inner_steps",
        "jkonet_inner_lr",
        "jkonet_inner_beta1",
        "jkonet_inner_beta2",
        "jkonet_inner_schedule",
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
            "jkonet_psi" => self.psi = value.parse()?,
            "jkonet_init_std" => self.init_std = parse_f64(key, value)?,
            "jkonet_inner_steps" => self.inner_steps = positive(key, value)?,
            "jkonet_inner_lr" => self.inner_lr = parse_f64(key, value)?,
            "jkonet_inner_beta1" => self.inner_beta1 = parse_f64(key, value)?,
            "jkonet_inner_beta2" => self.inner_beta2 = parse_f64(key, value)?,
            "jkonet_inner_schedule" => self.inner_schedule = value.parse()?,
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
            "jkonet_psi" => self.psi.to_string(),
            "jkonet_init_std" => self.init_std.to_string(),
            "jkonet_inner_steps" => self.inner_steps.to_string(),
            "jkonet_inner_lr" => self.inner_lr.to_string(),
            "jkonet_inner_beta1" => self.inner_beta1.to_string(),
            "jkonet_inner_beta2" => self.inner_beta2.to_string(),
            "jkonet_inner_schedule" => self.inner_schedule.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_parse_with_aliases_and_errors_name_the_key_and_the_choices() {
        assert_eq!(" Sinkhorn ".parse::<OuterLoss>().unwrap(), OuterLoss::Divergence);
        assert_eq!("wasserstein".parse::<OuterLoss>().unwrap().to_string(), "entropic");
        for p in [PsiInit::Identity, PsiInit::Reference] {
            assert_eq!(p.to_string().parse::<PsiInit>().unwrap(), p);
        }
        let err = "cosine".parse::<InnerSchedule>().unwrap_err();
        assert_eq!(err.message(), "invalid value 'cosine' for 'jkonet_inner_schedule': expected linear or constant");
    }
}

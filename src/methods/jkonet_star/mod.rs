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
pub mod mlp;

pub use crate::config::star::{CouplingKind, PredictRule, StarConfig};
use crate::config::Method;
pub use crate::energy::linear;
use crate::energy::Energy;
use crate::error::{Error, Result};
use crate::model::{by_chunks, Model, StepRule};
use crate::tensor::{to_array, to_tensor};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::Tensor;

/// JKOnet* predicts with a step of its learned SDE ([`predict_step`]); it keeps no networks
/// beside the energy.
pub struct SdeRule;

impl StepRule for SdeRule {
    fn push_forward(&self, model: &Model, k: usize, z: ArrayView2<f64>) -> Result<Array2<f64>> {
        by_chunks(z, |zc| predict_step(model, k, zc))
    }
}

/// The networks of both JKOnet* variants: an energy (built by `energy`) and [`SdeRule`].
fn with_sde_rule(energy: Energy) -> (Energy, Box<dyn StepRule>) {
    (energy, Box::new(SdeRule))
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
        // Implicit for the MLP energies, which are fitted to the optimality condition at y: on
        // paired wavy_plateau V the explicit step doubled W1 (0.085 → 0.21), on EB it was better for
        // t,V (0.70 vs 0.81) and slightly worse for V (1.126 vs 1.103) (docs/BENCHMARKS.md).
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

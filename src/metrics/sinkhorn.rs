//! Entropic optimal transport on tch tensors, in the log domain, differentiable in the point
//! positions and usable on any device.
//!
//! With uniform weights a = 1/n, b = 1/m and cost C_ij = ‖x_i − y_j‖², the entropic cost is
//! W_ε(x, y) = min_P ⟨P, C⟩ + ε KL(P ‖ a bᵀ), and the debiased Sinkhorn divergence is
//! S_ε(x, y) = W_ε(x, y) − ½ W_ε(x, x) − ½ W_ε(y, y), which is ≥ 0 and 0 iff the clouds coincide.
//! The dual potentials are iterated without gradient tracking; one final soft c-transform with
//! tracking gives the envelope-theorem (Danskin) gradient 2 Σ_j P_ij (x_i − y_j) at the solution.

use crate::error::{Error, Result};
use tch::Tensor;

/// Solver settings. ε is absolute (in units of squared distance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornOptions {
    pub epsilon: f64,
    /// Maximum number of Sinkhorn iterations per problem.
    pub max_iter: usize,
    /// Stop when the L1 error of the row marginal falls below this.
    pub tolerance: f64,
}

impl Default for SinkhornOptions {
    /// ε = 1, 2000 iterations, marginal tolerance 1e-3 (the settings JKOnet uses).
    fn default() -> Self {
        SinkhornOptions { epsilon: 1.0, max_iter: 2000, tolerance: 1e-3 }
    }
}

fn squared_distances(x: &Tensor, y: &Tensor) -> Tensor {
    // ‖x‖² + ‖y‖² − 2 x·y avoids an n×m×d intermediate; clamp the tiny negatives of cancellation.
    let xx = x.square().sum_dim_intlist([1i64].as_slice(), true, x.kind());
    let yy = y.square().sum_dim_intlist([1i64].as_slice(), true, y.kind());
    (xx + yy.transpose(0, 1) - x.matmul(&y.transpose(0, 1)) * 2.0).clamp_min(0.0)
}

fn check(x: &Tensor, y: &Tensor, opts: &SinkhornOptions) -> Result<()> {
    let (sx, sy) = (x.size(), y.size());
    if sx.len() != 2 || sy.len() != 2 {
        return Err(Error::invalid_argument(format!("point clouds must be 2-D tensors, got shapes {sx:?} and {sy:?}")));
    }
    if sx[0] == 0 || sy[0] == 0 {
        return Err(Error::invalid_argument("point clouds must not be empty"));
    }
    if sx[1] != sy[1] {
        return Err(Error::invalid_argument(format!("dimension mismatch: {} vs {}", sx[1], sy[1])));
    }
    if !(opts.epsilon.is_finite() && opts.epsilon > 0.0) {
        return Err(Error::invalid_argument(format!("epsilon must be positive and finite, got {}", opts.epsilon)));
    }
    if !(opts.tolerance.is_finite() && opts.tolerance > 0.0) || opts.max_iter == 0 {
        return Err(Error::invalid_argument("tolerance must be positive and max_iter at least 1"));
    }
    for (name, t) in [("x", x), ("y", y)] {
        let finite = tch::no_grad(|| t.isfinite().all().int64_value(&[]));
        if finite == 0 {
            return Err(Error::invalid_argument(format!("point cloud {name} contains NaN or Inf")));
        }
    }
    Ok(())
}

/// Soft c-transform: −ε log Σ_j b_j exp((g_j − C_ij)/ε), row-wise.
fn soft_min(cost: &Tensor, g: &Tensor, log_b: f64, eps: f64) -> Tensor {
    let z = (g.unsqueeze(0) - cost) / eps + log_b;
    z.logsumexp([1i64].as_slice(), false) * (-eps)
}

/// Converged dual potentials (f, g), without gradient tracking.
fn potentials(cost: &Tensor, opts: &SinkhornOptions, symmetric: bool) -> (Tensor, Tensor) {
    tch::no_grad(|| {
        let c = cost.detach();
        let ct = c.transpose(0, 1);
        let (n, m) = (c.size()[0], c.size()[1]);
        let (log_a, log_b) = (-(n as f64).ln(), -(m as f64).ln());
        let eps = opts.epsilon;
        let mut f = Tensor::zeros([n], (c.kind(), c.device()));
        let mut g = Tensor::zeros([m], (c.kind(), c.device()));
        for it in 0..opts.max_iter {
            if symmetric {
                // Averaged updates: the plain alternation oscillates on the symmetric problem.
                f = (&f + soft_min(&c, &f, log_b, eps)) * 0.5;
                g = f.shallow_clone();
            } else {
                f = soft_min(&c, &g, log_b, eps);
                g = soft_min(&ct, &f, log_a, eps);
            }
            if it % 10 == 9 {
                // Row marginal of P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε) against a_i = 1/n.
                let row = ((f.unsqueeze(1) + g.unsqueeze(0) - &c) / eps + log_b).logsumexp([1i64].as_slice(), false);
                let err = (row.exp() - 1.0).abs().mean(row.kind()).double_value(&[]);
                if err < opts.tolerance {
                    break;
                }
            }
        }
        (f, g)
    })
}

/// Entropic OT cost W_ε(x, y) with squared-Euclidean ground cost; differentiable in x and y.
pub fn entropic_cost(x: &Tensor, y: &Tensor, opts: &SinkhornOptions) -> Result<Tensor> {
    check(x, y, opts)?;
    Ok(entropic_cost_unchecked(x, y, opts, false))
}

fn entropic_cost_unchecked(x: &Tensor, y: &Tensor, opts: &SinkhornOptions, symmetric: bool) -> Tensor {
    let cost = squared_distances(x, y);
    let m = cost.size()[1];
    let (_, g) = potentials(&cost, opts, symmetric);
    // One tracked soft c-transform of g: at the fixed point, ⟨a, T(g)⟩ + ⟨b, g⟩ equals the dual
    // value and its derivative in C is the optimal plan (envelope theorem), so autograd yields
    // Σ_ij P_ij ∂C_ij without differentiating through the iterations.
    let f_t = soft_min(&cost, &g, -(m as f64).ln(), opts.epsilon);
    f_t.mean(f_t.kind()) + g.mean(g.kind())
}

/// Debiased Sinkhorn divergence S_ε(x, y) (a scalar tensor, ≥ 0 up to solver tolerance).
pub fn sinkhorn_divergence(x: &Tensor, y: &Tensor, opts: &SinkhornOptions) -> Result<Tensor> {
    check(x, y, opts)?;
    let xy = entropic_cost_unchecked(x, y, opts, false);
    let xx = entropic_cost_unchecked(x, x, opts, true);
    let yy = entropic_cost_unchecked(y, y, opts, true);
    Ok(xy - (xx + yy) * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn cloud(n: i64, d: i64, seed: i64) -> Tensor {
        tch::manual_seed(seed);
        Tensor::randn([n, d], (Kind::Double, Device::Cpu))
    }

    #[test]
    fn divergence_vanishes_on_identical_clouds_and_is_positive_otherwise() {
        let x = cloud(60, 2, 1);
        let opts = SinkhornOptions { epsilon: 0.1, max_iter: 5000, tolerance: 1e-9 };
        let same = sinkhorn_divergence(&x, &x, &opts).unwrap().double_value(&[]);
        assert!(same.abs() < 1e-8, "S(x,x) = {same}");
        let y = cloud(50, 2, 2) + 1.0;
        let s = sinkhorn_divergence(&x, &y, &opts).unwrap().double_value(&[]);
        assert!(s > 0.5, "S = {s}");
        let s_rev = sinkhorn_divergence(&y, &x, &opts).unwrap().double_value(&[]);
        assert!((s - s_rev).abs() < 1e-6 * s, "{s} vs {s_rev}");
    }

    #[test]
    fn small_epsilon_approaches_the_exact_cost_of_a_translation() {
        // For y = x + v the exact W2² is ‖v‖²; the debiased divergence converges to it as ε → 0.
        let x = cloud(40, 3, 3);
        let v = Tensor::from_slice(&[0.3f64, -0.4, 1.2]);
        let y = &x + &v;
        let opts = SinkhornOptions { epsilon: 1e-3, max_iter: 20000, tolerance: 1e-7 };
        let s = sinkhorn_divergence(&x, &y, &opts).unwrap().double_value(&[]);
        let exact = 0.3f64 * 0.3 + 0.4 * 0.4 + 1.2 * 1.2;
        assert!((s - exact).abs() < 0.02 * exact, "S = {s}, W2² = {exact}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let x = cloud(8, 2, 4).set_requires_grad(true);
        let y = cloud(6, 2, 5);
        let opts = SinkhornOptions { epsilon: 0.5, max_iter: 10000, tolerance: 1e-12 };
        let s = sinkhorn_divergence(&x, &y, &opts).unwrap();
        let grad = Tensor::run_backward(&[s], &[&x], false, false).pop().unwrap();
        let h = 1e-6;
        for (i, k) in [(0i64, 0i64), (3, 1), (7, 0)] {
            let bump = |delta: f64| {
                let xp = x.detach().copy();
                let _ = xp.get(i).get(k).fill_(x.double_value(&[i, k]) + delta);
                sinkhorn_divergence(&xp, &y, &opts).unwrap().double_value(&[])
            };
            let fd = (bump(h) - bump(-h)) / (2.0 * h);
            let g = grad.double_value(&[i, k]);
            assert!((fd - g).abs() < 1e-5 * (1.0 + fd.abs()), "({i},{k}): autograd {g} vs finite difference {fd}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        let x = cloud(5, 2, 6);
        let opts = SinkhornOptions::default();
        assert!(sinkhorn_divergence(&x, &cloud(5, 3, 7), &opts).unwrap_err().message().contains("dimension mismatch"));
        let nan = x.copy();
        let _ = nan.get(0).get(0).fill_(f64::NAN);
        assert!(sinkhorn_divergence(&nan, &x, &opts).unwrap_err().message().contains("NaN"));
        let empty = Tensor::zeros([0, 2], (Kind::Double, Device::Cpu));
        assert!(sinkhorn_divergence(&empty, &x, &opts).is_err());
        let bad_eps = SinkhornOptions { epsilon: 0.0, ..opts };
        assert!(entropic_cost(&x, &x, &bad_eps).is_err());
    }
}

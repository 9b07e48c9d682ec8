//! Entropic optimal transport: the crate's one Sinkhorn solver, on tch tensors of any float kind and
//! device, in the log domain.
//!
//! With uniform weights a = 1/n, b = 1/m and cost C_ij, the solver finds the dual potentials (f, g) of
//! W_ε = min_P ⟨P, C⟩ + ε KL(P ‖ a bᵀ), whose plan is P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε). It
//! alternates the soft c-transforms f ← T(g), g ← T(f) with ε-scaling: ε starts at max C / 2 and is
//! halved, warm-starting the potentials, down to the target ε (measured against the plain
//! alternation from zero potentials: 25–50 % fewer iterations to a 1e-6 marginal error at ε = 0.1 and
//! 0.01 on 2-D clouds, a 5–10× smaller error after 20000 iterations at ε = 0.001, about the same
//! count at ε = 1 and in 5-D at ε ≤ 0.03, where the final linear rate dominates). After each g update the
//! column marginal is exact, and the next f update gives the row marginal for free
//! (Σ_j P_ij = a_i exp((f_i − T(g)_i)/ε)), so convergence is checked on every iteration at no extra
//! cost: the run stops when the L1 row error Σ_i |Σ_j P_ij − a_i| is below `tolerance` at the target ε,
//! or after `max_iter` iterations, and [`Potentials`] says which.
//!
//! Built on it:
//! - [`entropic_cost`] and [`sinkhorn_divergence`] (squared-Euclidean cost, differentiable in the
//!   points): S_ε(x, y) = W_ε(x, y) − ½ W_ε(x, x) − ½ W_ε(y, y) is ≥ 0 and 0 iff the clouds coincide.
//!   The potentials are iterated without gradient tracking; one final soft c-transform with tracking
//!   gives the envelope-theorem (Danskin) gradient 2 Σ_j P_ij (x_i − y_j) at the solution. These two
//!   return the value reached after `max_iter` iterations even when the tolerance was not met (JKOnet's
//!   outer loss and the C ABI rely on that), as they always have.
//! - [`plan`]: the plan itself, in f64 on the CPU (JKOnet*'s entropic couplings).

use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2};
use tch::{Device, Kind, Tensor};

/// Solver settings. ε is absolute (in units of the cost, squared distance for point clouds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornOptions {
    pub epsilon: f64,
    /// Maximum number of Sinkhorn iterations per problem, over all ε stages.
    pub max_iter: usize,
    /// Stop when the L1 error of the row marginal at the target ε falls below this.
    pub tolerance: f64,
}

impl Default for SinkhornOptions {
    /// ε = 1, 2000 iterations, marginal tolerance 1e-3 (the settings JKOnet uses).
    fn default() -> Self {
        SinkhornOptions { epsilon: 1.0, max_iter: 2000, tolerance: 1e-3 }
    }
}

/// Marginal tolerance of the intermediate ε-scaling stages (or the final one, if larger): they only
/// provide a warm start.
const STAGE_TOLERANCE: f64 = 1e-2;

/// Converged (or last) dual potentials of one problem, without gradient tracking.
#[derive(Debug)]
pub struct Potentials {
    /// Row potential (n) at the target ε.
    pub f: Tensor,
    /// Column potential (m) at the target ε; g = T(f), so the column marginal is exact.
    pub g: Tensor,
    /// Iterations done (one f and one g update each), over all ε stages.
    pub iterations: usize,
    /// L1 error of the row marginal, Σ_i |Σ_j P_ij − a_i|, at the target ε (NaN when the cost held
    /// NaN values).
    pub error: f64,
    /// Whether `error` < tolerance.
    pub converged: bool,
}

fn check_options(opts: &SinkhornOptions) -> Result<()> {
    if !(opts.epsilon.is_finite() && opts.epsilon > 0.0) {
        return Err(Error::invalid_argument(format!("epsilon must be positive and finite, got {}", opts.epsilon)));
    }
    if !(opts.tolerance.is_finite() && opts.tolerance > 0.0) || opts.max_iter == 0 {
        return Err(Error::invalid_argument("tolerance must be positive and max_iter at least 1"));
    }
    Ok(())
}

/// Two 2-D tensors holding valid point clouds of one dimension, with the rules and messages of
/// [`crate::check`].
fn check_clouds(x: &Tensor, y: &Tensor, opts: &SinkhornOptions) -> Result<()> {
    const WHAT: &str = "Sinkhorn";
    let (sx, sy) = (x.size(), y.size());
    if sx.len() != 2 || sy.len() != 2 {
        return Err(Error::invalid_argument(format!("point clouds must be 2-D tensors, got shapes {sx:?} and {sy:?}")));
    }
    for (name, s) in [("x", &sx), ("y", &sy)] {
        crate::check::shape(s[0] as usize, s[1] as usize, WHAT, name)?;
    }
    crate::check::same_dim(sx[1] as usize, sy[1] as usize, WHAT)?;
    check_options(opts)?;
    for (name, t) in [("x", x), ("y", y)] {
        let bad = tch::no_grad(|| t.isfinite().logical_not());
        if bad.any().int64_value(&[]) != 0 {
            let at = bad.nonzero();
            let (i, j) = (at.int64_value(&[0, 0]), at.int64_value(&[0, 1]));
            return Err(crate::check::non_finite(t.double_value(&[i, j]), i as usize, j as usize, WHAT, name));
        }
    }
    Ok(())
}

fn squared_distances(x: &Tensor, y: &Tensor) -> Tensor {
    // ‖x‖² + ‖y‖² − 2 x·y avoids an n×m×d intermediate; clamp the tiny negatives of cancellation.
    let xx = x.square().sum_dim_intlist([1i64].as_slice(), true, x.kind());
    let yy = y.square().sum_dim_intlist([1i64].as_slice(), true, y.kind());
    (xx + yy.transpose(0, 1) - x.matmul(&y.transpose(0, 1)) * 2.0).clamp_min(0.0)
}

/// Soft c-transform −ε log Σ_j b_j exp((g_j − C_ij)/ε), row-wise (tracked when C or g is).
fn soft_min(cost: &Tensor, g: &Tensor, log_b: f64, eps: f64) -> Tensor {
    let z = (g.unsqueeze(0) - cost) / eps + log_b;
    z.logsumexp([1i64].as_slice(), false) * (-eps)
}

/// Solve the entropic problem with cost matrix `cost` (n × m, n, m ≥ 1) and uniform marginals.
/// Never fails on non-convergence: see [`Potentials::converged`].
pub fn solve(cost: &Tensor, opts: &SinkhornOptions) -> Result<Potentials> {
    check_options(opts)?;
    let s = cost.size();
    if s.len() != 2 || s[0] == 0 || s[1] == 0 {
        return Err(Error::invalid_argument(format!("Sinkhorn: the cost must be a non-empty matrix, got shape {s:?}")));
    }
    Ok(iterate(cost, opts, false))
}

/// The iterations of [`solve`]; `symmetric` (x = y, so C = Cᵀ and f = g) uses the averaged update
/// f ← ½(f + T(f)), since the plain alternation oscillates on the symmetric problem.
fn iterate(cost: &Tensor, opts: &SinkhornOptions, symmetric: bool) -> Potentials {
    tch::no_grad(|| {
        let c = cost.detach();
        let (n, m) = (c.size()[0], c.size()[1]);
        let (log_a, log_b) = (-(n as f64).ln(), -(m as f64).ln());
        let target = opts.epsilon;
        // Each convergence check reads one number back; off the CPU that is a device
        // synchronisation, so it happens every 10th iteration there.
        let every = if c.device() == Device::Cpu { 1 } else { 10 };
        // Row update from g (−ε LSE_j(g_j/ε − C_ij/ε) − ε log b), column update from f.
        let row = |scaled: &Tensor, g: &Tensor, eps: f64| {
            (scaled + (g / eps).unsqueeze(0)).logsumexp([1i64].as_slice(), false) * (-eps) - eps * log_b
        };
        let col = |scaled: &Tensor, f: &Tensor, eps: f64| {
            (scaled + (f / eps).unsqueeze(1)).logsumexp([0i64].as_slice(), false) * (-eps) - eps * log_a
        };
        // L1 row error of (f, g) at ε, from f and the next row update t = T(g).
        let error =
            |f: &Tensor, t: &Tensor, eps: f64| ((f - t) / eps).expm1().abs().mean(Kind::Double).double_value(&[]);
        let mut f = Tensor::zeros([n], (c.kind(), c.device()));
        let mut g = Tensor::zeros([m], (c.kind(), c.device()));
        let start = c.max().double_value(&[]) / 2.0;
        let mut eps = if start.is_finite() { start.max(target) } else { target };
        // The intermediate stages may use half of the budget; then the target ε is taken at once.
        let stage_budget = opts.max_iter / 2;
        let mut iterations = 0;
        let mut err;
        loop {
            let last = eps <= target;
            let tol = if last { opts.tolerance } else { opts.tolerance.max(STAGE_TOLERANCE) };
            let scaled = &c / -eps;
            // The first iteration of a stage starts from potentials of another ε: no valid error yet
            // in the asymmetric case (the column marginal is exact only at the ε g was computed at).
            let mut fresh = !symmetric;
            err = f64::INFINITY;
            loop {
                let budget_left = if last { iterations < opts.max_iter } else { iterations < stage_budget };
                if !budget_left {
                    break;
                }
                let t = row(&scaled, if symmetric { &f } else { &g }, eps);
                if !fresh && iterations % every == 0 {
                    err = error(&f, &t, eps);
                    if err < tol || err.is_nan() {
                        // Converged, or NaN (a NaN cost): stop either way.
                        break;
                    }
                }
                if symmetric {
                    f = (&f + t) * 0.5;
                } else {
                    f = t;
                    g = col(&scaled, &f, eps);
                }
                iterations += 1;
                fresh = false;
            }
            if last {
                break;
            }
            eps = if iterations >= stage_budget { target } else { (eps / 2.0).max(target) };
        }
        if symmetric {
            g = f.shallow_clone();
        }
        if !(err < opts.tolerance || err.is_nan()) {
            // The budget ran out: measure the potentials returned (the last check saw older ones).
            err = error(&f, &row(&(&c / -target), &g, target), target);
        }
        Potentials { f, g, iterations, error: err, converged: err < opts.tolerance }
    })
}

/// Entropic OT cost W_ε(x, y) with squared-Euclidean ground cost; differentiable in x and y.
pub fn entropic_cost(x: &Tensor, y: &Tensor, opts: &SinkhornOptions) -> Result<Tensor> {
    check_clouds(x, y, opts)?;
    Ok(entropic_cost_unchecked(x, y, opts, false))
}

fn entropic_cost_unchecked(x: &Tensor, y: &Tensor, opts: &SinkhornOptions, symmetric: bool) -> Tensor {
    // Identical clouds make the symmetric problem (f = g), whose averaged update converges in tens
    // of iterations where the alternation can crawl (60 points in 2-D, ε = 0.1: 43 iterations to a
    // 1e-9 marginal error, against 2.6e-5 still after 5000 alternations).
    let symmetric = symmetric
        || (x.size() == y.size() && x.kind() == y.kind() && x.device() == y.device() && tch::no_grad(|| x.equal(y)));
    let cost = squared_distances(x, y);
    let m = cost.size()[1];
    let g = iterate(&cost, opts, symmetric).g;
    // One tracked soft c-transform of g: at the fixed point, ⟨a, T(g)⟩ + ⟨b, g⟩ equals the dual
    // value and its derivative in C is the optimal plan (envelope theorem), so autograd yields
    // Σ_ij P_ij ∂C_ij without differentiating through the iterations.
    let f_t = soft_min(&cost, &g, -(m as f64).ln(), opts.epsilon);
    f_t.mean(f_t.kind()) + g.mean(g.kind())
}

/// Debiased Sinkhorn divergence S_ε(x, y) (a scalar tensor, ≥ 0 up to solver tolerance).
pub fn sinkhorn_divergence(x: &Tensor, y: &Tensor, opts: &SinkhornOptions) -> Result<Tensor> {
    check_clouds(x, y, opts)?;
    let xy = entropic_cost_unchecked(x, y, opts, false);
    let xx = entropic_cost_unchecked(x, x, opts, true);
    let yy = entropic_cost_unchecked(y, y, opts, true);
    Ok(xy - (xx + yy) * 0.5)
}

/// An entropic transport plan between two clouds, with the solver's report.
#[derive(Debug, Clone)]
pub struct EntropicPlan {
    /// P (n × m), P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε); columns sum to 1/m exactly, rows to 1/n
    /// within `error` (L1).
    pub plan: Array2<f64>,
    pub iterations: usize,
    pub error: f64,
    pub converged: bool,
}

/// The entropic plan between the clouds `x` and `y` (uniform weights, cost ‖x_i − y_j‖², no ½), in
/// f64 on the CPU with libtorch's intra-op threads. Errors on invalid input and on a non-finite
/// marginal error; not on non-convergence (see [`EntropicPlan::converged`]).
pub fn plan(x: ArrayView2<f64>, y: ArrayView2<f64>, opts: &SinkhornOptions) -> Result<EntropicPlan> {
    crate::check::pair(x, y, "Sinkhorn plan")?;
    check_options(opts)?;
    let (n, m) = (x.nrows(), y.nrows());
    // Exact differences (no ‖x‖² + ‖y‖² − 2x·y cancellation), n × m without a d-fold intermediate.
    let mut cost = Vec::with_capacity(n * m);
    for xi in x.rows() {
        cost.extend(y.rows().into_iter().map(|yj| xi.iter().zip(yj).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()));
    }
    let c = Tensor::from_slice(&cost).view([n as i64, m as i64]);
    let p = iterate(&c, opts, false);
    if !p.error.is_finite() {
        return Err(Error::numerical(format!("Sinkhorn diverged (ε = {}, marginal error {})", opts.epsilon, p.error)));
    }
    let eps = opts.epsilon;
    let log_ab = -(n as f64).ln() - (m as f64).ln();
    let logp = (p.f.unsqueeze(1) + p.g.unsqueeze(0) - &c) / eps + log_ab;
    let flat = Vec::<f64>::try_from(&logp.exp().contiguous().view([-1]))?;
    Ok(EntropicPlan {
        plan: Array2::from_shape_vec((n, m), flat).expect("n × m values"),
        iterations: p.iterations,
        error: p.error,
        converged: p.converged,
    })
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

    /// Gaussian clouds: x ~ N(0, I) (n × d), y ~ N(1.5 e₁, 0.64 I) (m × d).
    fn gaussians(n: usize, m: usize, d: usize, seed: u64) -> (ndarray::Array2<f64>, ndarray::Array2<f64>) {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x = ndarray::Array2::from_shape_fn((n, d), |_| StandardNormal.sample(&mut rng));
        let y = ndarray::Array2::from_shape_fn((m, d), |(_, j)| {
            let z: f64 = StandardNormal.sample(&mut rng);
            0.8 * z + if j == 0 { 1.5 } else { 0.0 }
        });
        (x, y)
    }

    /// (L1 row error, max column error, ⟨P, C⟩) of a plan, recomputed from its entries.
    fn audit(p: &ndarray::Array2<f64>, x: &ndarray::Array2<f64>, y: &ndarray::Array2<f64>) -> (f64, f64, f64) {
        let (n, m) = p.dim();
        let rows: f64 = p.rows().into_iter().map(|r| (r.sum() - 1.0 / n as f64).abs()).sum();
        let cols = p.columns().into_iter().map(|c| (c.sum() - 1.0 / m as f64).abs()).fold(0.0, f64::max);
        let cost = p
            .indexed_iter()
            .map(|((i, j), w)| w * x.row(i).iter().zip(y.row(j)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
            .sum();
        (rows, cols, cost)
    }

    #[test]
    fn plans_meet_the_tolerance_and_approach_exact_ot_as_epsilon_shrinks() {
        // Measured on these clouds (seeds 0–2): ⟨P, C⟩ − exact = 0.76–0.77 / 0.065–0.068 /
        // 0.0024–0.0028 at ε = 1 / 0.1 / 0.01 in 2-D, 1.07–1.11 / 0.0196–0.0203 / 0.0019–0.0020 at
        // ε = 1 / 0.1 / 0.03 in 5-D. ε-scaling reaches a 1e-6 marginal error at ε = 0.01 (2-D) in
        // 1424–3372 iterations where the plain alternation of the former metrics solver needs
        // 2476–4112.
        use crate::metrics::ot::{exact_ot, GroundCost};
        let tol = 1e-6;
        for (d, n, m, epsilons) in [(2, 200, 150, [1.0, 0.1, 0.01]), (5, 150, 120, [1.0, 0.1, 0.03])] {
            for seed in 0..3 {
                let (x, y) = gaussians(n, m, d, seed);
                let exact = exact_ot(x.view(), y.view(), GroundCost::SquaredEuclidean).unwrap().cost;
                let mut gaps = Vec::new();
                for eps in epsilons {
                    let opts = SinkhornOptions { epsilon: eps, max_iter: 20_000, tolerance: tol };
                    let p = plan(x.view(), y.view(), &opts).unwrap();
                    let (rows, cols, cost) = audit(&p.plan, &x, &y);
                    let at = format!("d = {d}, seed {seed}, ε = {eps}");
                    assert!(p.converged && p.error < tol, "{at}: error {} after {} iterations", p.error, p.iterations);
                    assert!((rows - p.error).abs() < 1e-3 * p.error + 1e-12, "{at}: reported {} vs {rows}", p.error);
                    assert!(cols < 1e-12, "{at}: columns are exact after the g update ({cols})");
                    // A feasible plan costs at least the optimum (up to the marginal error × max C).
                    assert!(cost > exact - 1e-4, "{at}: ⟨P, C⟩ = {cost} below the exact {exact}");
                    gaps.push(cost - exact);
                }
                let at = format!("d = {d}, seed {seed}: gaps {gaps:?} (exact {exact})");
                assert!(gaps[0] > 5.0 * gaps[1] && gaps[1] > 5.0 * gaps[2], "{at}");
                assert!(gaps[2] < 0.005 && gaps[1] < 0.1 && gaps[0] < 1.5, "{at}");
            }
        }
    }

    #[test]
    fn non_convergence_is_reported_with_the_true_error() {
        let (x, y) = gaussians(200, 150, 2, 1);
        for max_iter in [1, 4, 30] {
            let opts = SinkhornOptions { epsilon: 0.01, max_iter, tolerance: 1e-6 };
            let p = plan(x.view(), y.view(), &opts).unwrap();
            let (rows, cols, _) = audit(&p.plan, &x, &y);
            assert!(
                !p.converged && p.error > 1e-6 && p.iterations == max_iter,
                "{max_iter}: {:?}",
                (p.error, p.iterations)
            );
            assert!((rows - p.error).abs() < 1e-6 * p.error, "reported {} vs actual {rows}", p.error);
            assert!(cols < 1e-12);
        }
        // The same problem converges with a budget, and a NaN cost is a failure, not a plan.
        assert!(
            plan(x.view(), y.view(), &SinkhornOptions { epsilon: 0.01, max_iter: 20_000, tolerance: 1e-6 })
                .unwrap()
                .converged
        );
        let c = Tensor::from_slice(&[0.0, f64::NAN, 1.0, 2.0]).view([2, 2]);
        let p = solve(&c, &SinkhornOptions::default()).unwrap();
        assert!(!p.converged && p.error.is_nan());
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

//! Couplings between consecutive snapshots, computed once per dataset.
//!
//! Large snapshots are split into blocks after a seeded random permutation of each snapshot, never
//! by index: on paired data, blocks by index hold the same particles at both times, so every
//! true partner is in its block and the blocking leaks the pairing (spec §2.5, §10.4).

use super::{CouplingKind, StarConfig};
use crate::data::Snapshots;
use crate::error::{Error, Result};
use crate::metrics::ot::{exact_ot, GroundCost};
use ndarray::{ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// The coupling of step k → k+1: (source row in snapshot k, target row in snapshot k+1, weight),
/// weights summing to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCoupling {
    pub entries: Vec<(usize, usize, f64)>,
}

impl StepCoupling {
    /// Σ w ‖x_i − y_j‖² for the step's clouds.
    pub fn cost(&self, x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
        self.entries
            .iter()
            .map(|&(i, j, w)| w * x.row(i).iter().zip(y.row(j)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
            .sum()
    }
}

/// Couplings of every step of a dataset.
pub fn compute(data: &Snapshots, cfg: &StarConfig, seed: u64) -> Result<Vec<StepCoupling>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC0FF_EE00);
    (0..data.len() - 1)
        .map(|k| {
            let x = data.get(k).expect("k in range").points.view();
            let y = data.get(k + 1).expect("k+1 in range").points.view();
            couple(x, y, cfg, &mut rng).map_err(|e| e.context(format!("couplings of step {k}")))
        })
        .collect()
}

/// Coupling of two clouds, blockwise above `cfg.block` points.
pub fn couple(x: ArrayView2<f64>, y: ArrayView2<f64>, cfg: &StarConfig, rng: &mut ChaCha8Rng) -> Result<StepCoupling> {
    let (n, m) = (x.nrows(), y.nrows());
    if n == 0 || m == 0 {
        return Err(Error::invalid_data("cannot couple an empty snapshot"));
    }
    let largest = n.max(m);
    let blocks = if cfg.block == 0 || largest <= cfg.block { 1 } else { largest.div_ceil(cfg.block).min(n.min(m)) };
    if blocks == 1 {
        return solve(x, y, cfg);
    }
    let mut px: Vec<usize> = (0..n).collect();
    let mut py: Vec<usize> = (0..m).collect();
    px.shuffle(rng);
    py.shuffle(rng);
    let mut entries = Vec::with_capacity(largest);
    for b in 0..blocks {
        // Proportional chunk sizes when n ≠ m: block b holds the same fraction of both clouds.
        let sx = &px[b * n / blocks..(b + 1) * n / blocks];
        let sy = &py[b * m / blocks..(b + 1) * m / blocks];
        let plan = solve(x.select(Axis(0), sx).view(), y.select(Axis(0), sy).view(), cfg)?;
        let share = sx.len() as f64 / n as f64;
        entries.extend(plan.entries.into_iter().map(|(i, j, w)| (sx[i], sy[j], w * share)));
    }
    Ok(StepCoupling { entries })
}

fn solve(x: ArrayView2<f64>, y: ArrayView2<f64>, cfg: &StarConfig) -> Result<StepCoupling> {
    match cfg.coupling {
        CouplingKind::Exact => Ok(StepCoupling { entries: exact_ot(x, y, GroundCost::SquaredEuclidean)?.entries }),
        CouplingKind::Sinkhorn => sinkhorn(x, y, cfg.epsilon),
    }
}

/// Log-domain Sinkhorn in f64 with uniform marginals and cost ‖x − y‖² (no ½), absolute ε. Entries
/// at most 1/(10·max(n, m)) are dropped (the reference's filter) and the rest renormalised to
/// total mass 1 (the reference leaves them unnormalised, its [BUG] 16).
pub fn sinkhorn(x: ArrayView2<f64>, y: ArrayView2<f64>, epsilon: f64) -> Result<StepCoupling> {
    let (n, m) = (x.nrows(), y.nrows());
    let to = |a: ArrayView2<f64>| {
        let v: Vec<f64> = a.iter().copied().collect();
        Tensor::from_slice(&v).view([a.nrows() as i64, a.ncols() as i64]).to_device(Device::Cpu)
    };
    let (xt, yt) = (to(x), to(y));
    let cost = (xt.unsqueeze(1) - yt.unsqueeze(0)).square().sum_dim_intlist([2i64].as_slice(), false, Kind::Double);
    let (log_a, log_b) = (-(n as f64).ln(), -(m as f64).ln());
    let mut f = Tensor::zeros([n as i64], (Kind::Double, Device::Cpu));
    let mut g = Tensor::zeros([m as i64], (Kind::Double, Device::Cpu));
    // ε-scaling: from half the largest cost down to ε, warm-starting the potentials, since plain
    // Sinkhorn needs O(max c/ε) iterations when ε is small against the costs.
    let mut eps = (cost.max().double_value(&[]) / 2.0).max(epsilon);
    loop {
        let last = eps <= epsilon;
        let tol = if last { 1e-4 } else { 1e-2 };
        let scaled = &cost / -eps;
        let mut converged = false;
        let mut err = f64::INFINITY;
        for _ in 0..5000 {
            f = (log_a - (&scaled + (&g / eps).unsqueeze(0)).logsumexp([1i64].as_slice(), false)) * eps;
            g = (log_b - (&scaled + (&f / eps).unsqueeze(1)).logsumexp([0i64].as_slice(), false)) * eps;
            // After the g update the column marginals are exact; check the rows.
            let rows = (&scaled + (&f / eps).unsqueeze(1) + (&g / eps).unsqueeze(0)).exp().sum_dim_intlist(
                [1i64].as_slice(),
                false,
                Kind::Double,
            );
            err = (rows * n as f64 - 1.0).abs().max().double_value(&[]);
            if !err.is_finite() {
                return Err(Error::numerical(format!("Sinkhorn diverged (ε = {eps})")));
            }
            if err < tol {
                converged = true;
                break;
            }
        }
        // Near-degenerate plans converge slowly at small ε; a marginal error under 1 % is kept
        // (the plan is renormalised below anyway).
        if !(converged || last && err < 1e-2) {
            return Err(Error::numerical(format!(
                "Sinkhorn did not converge in 5000 iterations at ε = {eps}; increase star_epsilon"
            )));
        }
        if last {
            break;
        }
        eps = (eps / 2.0).max(epsilon);
    }
    let scaled = &cost / -epsilon;
    let plan = (&scaled + (&f / epsilon).unsqueeze(1) + (&g / epsilon).unsqueeze(0)).exp();
    let flat = Vec::<f64>::try_from(&plan.contiguous().view([-1]))?;
    let threshold = 1.0 / (10.0 * n.max(m) as f64);
    let mut entries: Vec<(usize, usize, f64)> =
        flat.iter().enumerate().filter(|(_, &w)| w > threshold).map(|(idx, &w)| (idx / m, idx % m, w)).collect();
    if entries.is_empty() {
        return Err(Error::numerical("Sinkhorn plan has no entry above the threshold"));
    }
    let total: f64 = entries.iter().map(|e| e.2).sum();
    for e in &mut entries {
        e.2 /= total;
    }
    Ok(StepCoupling { entries })
}

/// All couplings of a dataset as rows: source x, target y, step k, weight w (Σ w = 1 per step),
/// source row index in snapshot k, and ∇log ρ_{k+1}(y) when the internal energy is learned —
/// taken from the density of the *target* snapshot of the same step (the reference pairs density
/// files and coupling files in directory order, its glob-order bug).
#[derive(Debug, Clone)]
pub struct Rows {
    pub x: ndarray::Array2<f64>,
    pub y: ndarray::Array2<f64>,
    pub step: Vec<usize>,
    pub weight: Vec<f64>,
    pub source: Vec<usize>,
    pub grad_log_density: Option<ndarray::Array2<f64>>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.step.len()
    }
    pub fn is_empty(&self) -> bool {
        self.step.is_empty()
    }
}

/// Rows of all steps; `densities[k]` is ∇log ρ_{k+1} at every point of snapshot k+1.
pub fn rows(data: &Snapshots, couplings: &[StepCoupling], densities: Option<&[ndarray::Array2<f64>]>) -> Rows {
    let d = data.dim();
    let total: usize = couplings.iter().map(|c| c.entries.len()).sum();
    let (mut x, mut y) = (Vec::with_capacity(total * d), Vec::with_capacity(total * d));
    let mut g = densities.map(|_| Vec::with_capacity(total * d));
    let (mut step, mut weight, mut source) = (Vec::new(), Vec::new(), Vec::new());
    for (k, c) in couplings.iter().enumerate() {
        let xs = &data.get(k).expect("k in range").points;
        let ys = &data.get(k + 1).expect("k+1 in range").points;
        for &(i, j, w) in &c.entries {
            x.extend(xs.row(i).iter());
            y.extend(ys.row(j).iter());
            if let (Some(g), Some(dens)) = (g.as_mut(), densities) {
                g.extend(dens[k].row(j).iter());
            }
            step.push(k);
            weight.push(w);
            source.push(i);
        }
    }
    let shape = |v: Vec<f64>| ndarray::Array2::from_shape_vec((total, d), v).expect("rows × d");
    Rows { x: shape(x), y: shape(y), step, weight, source, grad_log_density: g.map(shape) }
}

/// ∇log ρ_{k+1} on every point of snapshots 1..K from per-snapshot Gaussian mixtures.
pub fn target_densities(data: &Snapshots, components: usize, seed: u64) -> Result<Vec<ndarray::Array2<f64>>> {
    (1..data.len())
        .map(|k| {
            let p = &data.get(k).expect("k in range").points;
            let gmm = super::density::Gmm::fit(p.view(), components, seed.wrapping_add(k as u64))
                .map_err(|e| e.context(format!("density of snapshot {k}")))?;
            Ok(gmm.grad_log_density(p.view()))
        })
        .collect()
}

//! Couplings between consecutive snapshots, computed once per dataset.
//!
//! Large snapshots are split into blocks after a seeded random permutation of each snapshot, never
//! by index: on paired data, blocks by index hold the same particles at both times, so every
//! true partner is in its block and the blocking leaks the pairing (spec §2.5, §10.4).

use super::{CouplingKind, StarConfig};
use crate::data::Snapshots;
use crate::error::{Error, Result};
use crate::metrics::ot::{exact_ot, GroundCost};
use crate::metrics::sinkhorn::{plan, SinkhornOptions};
use ndarray::{ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

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
///
/// The random block permutations are drawn first, step by step from one generator seeded with
/// `seed` (the order the sequential code always used, so results do not depend on the thread count);
/// then all (step, block) problems are solved, in parallel with rayon for exact couplings (pure Rust).
/// Entropic couplings run one after the other: their solver uses libtorch, which parallelises each
/// problem with its own intra-op threads.
pub fn compute(data: &Snapshots, cfg: &StarConfig, seed: u64) -> Result<Vec<StepCoupling>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC0FF_EE00);
    let steps: Vec<(ArrayView2<f64>, ArrayView2<f64>, Vec<Block>)> = (0..data.len() - 1)
        .map(|k| {
            let x = data.get(k).expect("k in range").points.view();
            let y = data.get(k + 1).expect("k+1 in range").points.view();
            let blocks = blocks(x.nrows(), y.nrows(), cfg, &mut rng).map_err(|e| step_context(e, k))?;
            Ok((x, y, blocks))
        })
        .collect::<Result<_>>()?;
    let jobs: Vec<(usize, &Block)> =
        steps.iter().enumerate().flat_map(|(k, s)| s.2.iter().map(move |b| (k, b))).collect();
    let solved = run(cfg, &jobs, |&(k, block)| solve_block(steps[k].0, steps[k].1, block, cfg));
    let mut couplings: Vec<StepCoupling> =
        steps.iter().map(|(x, y, _)| StepCoupling { entries: Vec::with_capacity(x.nrows().max(y.nrows())) }).collect();
    for (&(k, _), result) in jobs.iter().zip(solved) {
        couplings[k].entries.extend(result.map_err(|e| step_context(e, k))?);
    }
    Ok(couplings)
}

fn step_context(e: Error, k: usize) -> Error {
    e.context(format!("couplings of step {k}"))
}

/// Coupling of two clouds, blockwise above `cfg.block` points.
pub fn couple(x: ArrayView2<f64>, y: ArrayView2<f64>, cfg: &StarConfig, rng: &mut ChaCha8Rng) -> Result<StepCoupling> {
    let blocks = blocks(x.nrows(), y.nrows(), cfg, rng)?;
    let mut entries = Vec::with_capacity(x.nrows().max(y.nrows()));
    for part in run(cfg, &blocks, |block| solve_block(x, y, block, cfg)) {
        entries.extend(part?);
    }
    Ok(StepCoupling { entries })
}

/// One OT problem of a step: rows `sx` of the source and `sy` of the target (`None`: all of them),
/// holding the fraction `share` of the step's mass.
struct Block {
    sx: Option<Vec<usize>>,
    sy: Option<Vec<usize>>,
    share: f64,
}

/// The blocks of an n → m step: one, or `count` random ones of proportional sizes (block b holds the
/// same fraction of both clouds) from a permutation of each cloud drawn from `rng`.
fn blocks(n: usize, m: usize, cfg: &StarConfig, rng: &mut ChaCha8Rng) -> Result<Vec<Block>> {
    if n == 0 || m == 0 {
        return Err(Error::invalid_data("cannot couple an empty snapshot"));
    }
    let largest = n.max(m);
    let count = if cfg.block == 0 || largest <= cfg.block { 1 } else { largest.div_ceil(cfg.block).min(n.min(m)) };
    if count == 1 {
        return Ok(vec![Block { sx: None, sy: None, share: 1.0 }]);
    }
    let mut px: Vec<usize> = (0..n).collect();
    let mut py: Vec<usize> = (0..m).collect();
    px.shuffle(rng);
    py.shuffle(rng);
    Ok((0..count)
        .map(|b| {
            let sx = px[b * n / count..(b + 1) * n / count].to_vec();
            let sy = py[b * m / count..(b + 1) * m / count].to_vec();
            Block { share: sx.len() as f64 / n as f64, sx: Some(sx), sy: Some(sy) }
        })
        .collect())
}

/// Map `solve` over `jobs` in order: in parallel for exact couplings, sequentially for entropic ones
/// (libtorch inside, see [`compute`]).
fn run<J: Sync, R: Send>(cfg: &StarConfig, jobs: &[J], solve: impl Fn(&J) -> R + Sync + Send) -> Vec<R> {
    match cfg.coupling {
        CouplingKind::Exact => jobs.par_iter().map(solve).collect(),
        CouplingKind::Sinkhorn => jobs.iter().map(solve).collect(),
    }
}

/// The entries of one block's plan, in the step's row indices and with the block's share of mass.
fn solve_block(
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    block: &Block,
    cfg: &StarConfig,
) -> Result<Vec<(usize, usize, f64)>> {
    let (Some(sx), Some(sy)) = (&block.sx, &block.sy) else {
        return Ok(solve(x, y, cfg)?.entries);
    };
    let plan = solve(x.select(Axis(0), sx).view(), y.select(Axis(0), sy).view(), cfg)?;
    Ok(plan.entries.into_iter().map(|(i, j, w)| (sx[i], sy[j], w * block.share)).collect())
}

fn solve(x: ArrayView2<f64>, y: ArrayView2<f64>, cfg: &StarConfig) -> Result<StepCoupling> {
    match cfg.coupling {
        CouplingKind::Exact => Ok(StepCoupling { entries: exact_ot(x, y, GroundCost::SquaredEuclidean)?.entries }),
        CouplingKind::Sinkhorn => sinkhorn(x, y, cfg.epsilon),
    }
}

/// Entropic coupling from the crate's Sinkhorn solver ([`crate::metrics::sinkhorn::plan`]: log
/// domain, ε-scaling, f64) with uniform marginals and cost ‖x − y‖² (no ½), absolute ε. Entries at
/// most 1/(10·max(n, m)) are dropped (the reference's filter) and the rest renormalised to total
/// mass 1 (the reference leaves them unnormalised, its [BUG] 16).
pub fn sinkhorn(x: ArrayView2<f64>, y: ArrayView2<f64>, epsilon: f64) -> Result<StepCoupling> {
    let (n, m) = (x.nrows(), y.nrows());
    let opts = SinkhornOptions { epsilon, max_iter: SINKHORN_MAX_ITER, tolerance: SINKHORN_TOLERANCE };
    let solved = plan(x, y, &opts)?;
    // Near-degenerate plans converge slowly at small ε; a marginal error under 1 % is kept (the
    // plan is renormalised below anyway).
    if !(solved.converged || solved.error < 1e-2) {
        return Err(Error::numerical(format!(
            "Sinkhorn did not converge in {} iterations at ε = {epsilon} (marginal error {:.1e}); increase star_epsilon",
            solved.iterations, solved.error
        )));
    }
    let threshold = 1.0 / (10.0 * n.max(m) as f64);
    let mut entries: Vec<(usize, usize, f64)> =
        solved.plan.indexed_iter().filter(|(_, &w)| w > threshold).map(|((i, j), &w)| (i, j, w)).collect();
    if entries.is_empty() {
        return Err(Error::numerical("Sinkhorn plan has no entry above the threshold"));
    }
    let total: f64 = entries.iter().map(|e| e.2).sum();
    for e in &mut entries {
        e.2 /= total;
    }
    Ok(StepCoupling { entries })
}

/// Iteration budget and L1 marginal tolerance of entropic couplings.
const SINKHORN_MAX_ITER: usize = 20_000;
const SINKHORN_TOLERANCE: f64 = 1e-4;

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

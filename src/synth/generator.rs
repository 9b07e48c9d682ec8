//! Euler–Maruyama particle generator for the JKOnet* benchmark (jkonet_star.md §2.2), with the
//! unpaired protocol of the iJKOnet paper (ijkonet.md §10.1) as the default.
//!
//! One step, all drifts evaluated at the old positions X (N particles):
//! x_i ← x_i − dt ∇V(x_i) − dt (1/N) Σ_j ∇W(x_i − x_j) + √(2β dt) ξ_i,  ξ_i ~ N(0, I),
//! where the interaction sum runs over all j, including j = i (the reference's convention).

use super::potentials::Potential;
use crate::data::Snapshots;
use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::distr::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Distribution of the initial particles, applied independently to every coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitialDistribution {
    /// Uniform on [low, high) per coordinate.
    Uniform { low: f64, high: f64 },
    /// Normal with this mean and standard deviation per coordinate.
    Gaussian { mean: f64, std: f64 },
}

impl Default for InitialDistribution {
    /// The reference's U[−4, 4]^d.
    fn default() -> Self {
        InitialDistribution::Uniform { low: -4.0, high: 4.0 }
    }
}

impl InitialDistribution {
    /// Check the parameters: finite, low < high, std > 0.
    pub fn validate(&self) -> Result<()> {
        match *self {
            InitialDistribution::Uniform { low, high } => {
                if !(low.is_finite() && high.is_finite() && low < high) {
                    return Err(Error::invalid_argument(format!(
                        "uniform initial distribution needs finite bounds with low < high, got \
                         [{low}, {high}]"
                    )));
                }
            }
            InitialDistribution::Gaussian { mean, std } => {
                if !(mean.is_finite() && std.is_finite() && std > 0.0) {
                    return Err(Error::invalid_argument(format!(
                        "gaussian initial distribution needs a finite mean and a finite std > 0, \
                         got mean {mean}, std {std}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Draw an n × d sample, row-major. Parameters must have been validated.
    fn sample(&self, n: usize, d: usize, rng: &mut ChaCha8Rng) -> Result<Array2<f64>> {
        let values: Vec<f64> = match *self {
            InitialDistribution::Uniform { low, high } => {
                let uniform = Uniform::new(low, high).map_err(|e| {
                    Error::invalid_argument(format!("uniform initial distribution [{low}, {high}): {e}"))
                })?;
                (0..n * d).map(|_| uniform.sample(rng)).collect()
            }
            InitialDistribution::Gaussian { mean, std } => (0..n * d)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    mean + std * z
                })
                .collect(),
        };
        Array2::from_shape_vec((n, d), values).map_err(|e| Error::internal(format!("initial sample shape: {e}")))
    }
}

/// How snapshots relate to particles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pairing {
    /// One population simulated for T steps; snapshot k is that population after k steps (the
    /// JKOnet* reference).
    Paired,
    /// Snapshot k comes from its own population (own initial draw, own noise) simulated k steps,
    /// so no particle appears in two snapshots (the iJKOnet "unpaired" protocol). Costs
    /// T(T + 1)/2 simulated steps instead of T.
    #[default]
    Unpaired,
}

/// An interaction kernel W; its drift on x is −(1/N) Σ_j ∇W(x − x_j) over the whole population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interaction {
    /// The benchmark function used as W (applied to differences x_i − x_j).
    pub kernel: Potential,
    /// Use W_s(z) = ½(W(z) + W(−z)), whose drift is the true Wasserstein gradient of ½∬W dμ dμ.
    pub symmetrised: bool,
}

impl Interaction {
    /// The kernel's gradient at z: ∇W(z), or ½(∇W(z) − ∇W(−z)) when symmetrised.
    /// `out` must have `z.len()` entries (otherwise it is filled with NaN, like [`Potential::gradient`]).
    pub fn gradient(&self, z: &[f64], out: &mut [f64]) {
        let mut scratch = KernelScratch::new(z.len());
        self.gradient_with(z, out, &mut scratch);
    }

    fn gradient_with(&self, z: &[f64], out: &mut [f64], scratch: &mut KernelScratch) {
        self.kernel.gradient(z, out);
        // For an even kernel ½(∇W(z) − ∇W(−z)) = ∇W(z): skip the second evaluation.
        if self.symmetrised && !self.kernel.has_odd_gradient() {
            for (n, &v) in scratch.negated.iter_mut().zip(z) {
                *n = -v;
            }
            self.kernel.gradient(&scratch.negated, &mut scratch.grad);
            for (o, &g) in out.iter_mut().zip(&scratch.grad) {
                *o = 0.5 * (*o - g);
            }
        }
    }
}

/// Reusable buffers so the O(N²) loops do not allocate per pair.
struct KernelScratch {
    negated: Vec<f64>,
    grad: Vec<f64>,
}

impl KernelScratch {
    fn new(d: usize) -> Self {
        KernelScratch { negated: vec![0.0; d], grad: vec![0.0; d] }
    }
}

/// Configuration of one synthetic run. `Default` is the reference's default dataset (wavy_plateau,
/// dt = 0.01, T = 5, N = 2000, d = 2, U[−4, 4]) but unpaired.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SdeConfig {
    /// Potential V (None: no potential drift).
    pub potential: Option<Potential>,
    /// Interaction kernel W (None: no interaction drift).
    pub interaction: Option<Interaction>,
    /// Diffusion coefficient β ≥ 0: the noise per step is √(2β dt) ξ (not a standard deviation).
    pub beta: f64,
    /// Time step dt > 0; snapshot k is at time k·dt.
    pub dt: f64,
    /// Number of steps T ≥ 1, so T + 1 snapshots.
    pub n_steps: usize,
    /// Particles per snapshot, N ≥ 2.
    pub n_particles: usize,
    /// Dimension d ≥ 1 (≥ 2 for the half-mean functions).
    pub dim: usize,
    /// Seed of every random draw; same config → bit-identical output.
    pub seed: u64,
    /// Distribution of the initial particles.
    pub init: InitialDistribution,
    /// Paired trajectories or independent populations per snapshot.
    pub pairing: Pairing,
}

impl Default for SdeConfig {
    fn default() -> Self {
        SdeConfig {
            potential: Some(Potential::WavyPlateau),
            interaction: None,
            beta: 0.0,
            dt: 0.01,
            n_steps: 5,
            n_particles: 2000,
            dim: 2,
            seed: 0,
            init: InitialDistribution::default(),
            pairing: Pairing::default(),
        }
    }
}

impl SdeConfig {
    /// Check every parameter, naming the offending one.
    pub fn validate(&self) -> Result<()> {
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(Error::invalid_argument(format!("dt must be finite and > 0, got {}", self.dt)));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(Error::invalid_argument(format!(
                "beta (diffusion coefficient) must be finite and ≥ 0, got {}",
                self.beta
            )));
        }
        if self.n_steps < 1 {
            return Err(Error::invalid_argument("n_steps must be at least 1 (T + 1 snapshots)"));
        }
        if self.n_particles < 2 {
            return Err(Error::invalid_argument(format!("n_particles must be at least 2, got {}", self.n_particles)));
        }
        if self.dim < 1 {
            return Err(Error::invalid_argument("dim must be at least 1"));
        }
        if self.n_particles.checked_mul(self.dim).is_none() {
            return Err(Error::invalid_argument(format!(
                "n_particles × dim = {} × {} overflows",
                self.n_particles, self.dim
            )));
        }
        if let Some(p) = self.potential {
            p.check_dim(self.dim)?;
        }
        if let Some(w) = self.interaction {
            w.kernel.check_dim(self.dim).map_err(|e| e.context("interaction kernel"))?;
        }
        self.init.validate()
    }
}

/// The true dynamics behind a synthetic dataset, to compare learned quantities against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruth {
    /// Potential V, if any.
    pub potential: Option<Potential>,
    /// Interaction kernel W, if any.
    pub interaction: Option<Interaction>,
    /// Diffusion coefficient β.
    pub beta: f64,
    /// Simulation time step.
    pub dt: f64,
}

impl GroundTruth {
    /// ∇V at each row of x (zeros without a potential).
    pub fn grad_potential(&self, x: ArrayView2<f64>) -> Array2<f64> {
        match self.potential {
            Some(p) => p.gradients(x),
            None => Array2::zeros(x.raw_dim()),
        }
    }

    /// V at each row of x (zeros without a potential).
    pub fn potential_values(&self, x: ArrayView2<f64>) -> Array1<f64> {
        match self.potential {
            Some(p) => p.values(x),
            None => Array1::zeros(x.nrows()),
        }
    }

    /// (1/N) Σ_j ∇W(x_i − y_j) for each row x_i, over the N rows y_j of `population` (the drift is
    /// its negative). Zeros without an interaction. Errors on mismatched dimensions, an empty
    /// population, or a dimension the kernel is undefined in.
    pub fn interaction_drift(&self, x: ArrayView2<f64>, population: ArrayView2<f64>) -> Result<Array2<f64>> {
        let d = x.ncols();
        if population.ncols() != d {
            return Err(Error::invalid_argument(format!(
                "interaction drift: points have dimension {d} but the population has dimension {}",
                population.ncols()
            )));
        }
        if population.nrows() == 0 {
            return Err(Error::invalid_argument("interaction drift: the population is empty"));
        }
        let Some(interaction) = self.interaction else {
            return Ok(Array2::zeros(x.raw_dim()));
        };
        interaction.kernel.check_dim(d)?;
        Ok(mean_kernel_gradient(&interaction, x, population))
    }
}

/// Snapshots plus the dynamics and configuration that produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticDataset {
    /// T + 1 snapshots at times k·dt.
    pub snapshots: Snapshots,
    /// The true V, W, β, dt.
    pub truth: GroundTruth,
    /// The configuration used.
    pub config: SdeConfig,
}

/// Simulate the configured SDE and return its snapshots (see [`Pairing`] for what snapshot k holds).
pub fn generate(config: &SdeConfig) -> Result<SyntheticDataset> {
    config.validate()?;
    let (n, d, t) = (config.n_particles, config.dim, config.n_steps);
    let mut clouds = Vec::with_capacity(t + 1);
    match config.pairing {
        Pairing::Paired => {
            let mut rng = stream_rng(config.seed, 0);
            let mut x = config.init.sample(n, d, &mut rng)?;
            clouds.push(x.clone());
            for k in 1..=t {
                x = euler_maruyama_step(config, &x, &mut rng, k)?;
                clouds.push(x.clone());
            }
        }
        Pairing::Unpaired => {
            // Snapshot k uses ChaCha stream k of the seed's key (the paired run uses stream 0 for
            // everything), so the populations are independent and each is reproducible on its own.
            for k in 0..=t {
                let mut rng = stream_rng(config.seed, k as u64);
                let mut x = config.init.sample(n, d, &mut rng)?;
                for step in 1..=k {
                    x = euler_maruyama_step(config, &x, &mut rng, step)?;
                }
                clouds.push(x);
            }
        }
    }
    let times = (0..=t).map(|k| k as f64 * config.dt).collect();
    let snapshots = Snapshots::new(times, clouds)?;
    let truth =
        GroundTruth { potential: config.potential, interaction: config.interaction, beta: config.beta, dt: config.dt };
    Ok(SyntheticDataset { snapshots, truth, config: *config })
}

fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// One explicit Euler–Maruyama step from x (all drifts at x). `step` only labels errors.
fn euler_maruyama_step(config: &SdeConfig, x: &Array2<f64>, rng: &mut ChaCha8Rng, step: usize) -> Result<Array2<f64>> {
    let dt = config.dt;
    let mut next = match config.potential {
        Some(p) => x - &(p.gradients(x.view()) * dt),
        None => x.clone(),
    };
    if let Some(w) = config.interaction {
        let drift = mean_kernel_gradient(&w, x.view(), x.view());
        next.zip_mut_with(&drift, |v, &g| *v -= dt * g);
    }
    if config.beta > 0.0 {
        let sigma = (2.0 * config.beta * dt).sqrt();
        for v in next.iter_mut() {
            let xi: f64 = StandardNormal.sample(rng);
            *v += sigma * xi;
        }
    }
    if let Some(bad) = next.iter().position(|v| !v.is_finite()) {
        return Err(Error::numerical(format!(
            "simulation diverged at step {step}: particle {} has a non-finite coordinate (dt = {} \
             may be too large for this potential/interaction)",
            bad / config.dim,
            dt
        )));
    }
    Ok(next)
}

/// (1/N) Σ_j ∇W(x_i − y_j) for every row x_i of x over the N rows y_j of `population` (dimensions
/// already checked to agree). In the simulator both are the current particles, self term included.
///
/// Rows are split into contiguous chunks handled by scoped threads. Each row's sum runs over j in
/// the same order whatever the chunking, so the result is bit-identical for any thread count.
fn mean_kernel_gradient(w: &Interaction, x: ArrayView2<f64>, population: ArrayView2<f64>) -> Array2<f64> {
    let pop = population.as_standard_layout();
    let pop = pop.as_slice().expect("standard layout is contiguous");
    let mut out = Array2::zeros(x.raw_dim());
    let n_rows = x.nrows();
    if n_rows == 0 {
        return out;
    }
    // Below a few million kernel calls a thread costs more than it saves.
    let work = n_rows.saturating_mul(population.nrows());
    let threads =
        if work < 1 << 18 { 1 } else { std::thread::available_parallelism().map_or(1, |t| t.get()).min(n_rows) };
    let chunk = n_rows.div_ceil(threads);
    let d = x.ncols();
    std::thread::scope(|scope| {
        let mut pending = Vec::new();
        for (c, x_chunk) in x.axis_chunks_iter(Axis(0), chunk).enumerate() {
            let job = move || kernel_gradient_rows(w, x_chunk, pop);
            // The last chunk runs here; if the OS refuses a thread, that chunk runs here too.
            let done = if (c + 1) * chunk >= n_rows {
                Err(job())
            } else {
                std::thread::Builder::new().spawn_scoped(scope, job).map_err(|_| job())
            };
            pending.push((c, done));
        }
        for (c, done) in pending {
            let rows = match done {
                Ok(handle) => handle.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload)),
                Err(rows) => rows,
            };
            let start = c * chunk;
            let dst = out.slice_mut(ndarray::s![start..start + rows.len() / d, ..]);
            let src = ArrayView2::from_shape(dst.raw_dim(), &rows).expect("chunk shape");
            let mut dst = dst;
            dst.assign(&src);
        }
    });
    out
}

/// The (1/N) Σ_j ∇W(x_i − y_j) rows of one chunk, row-major.
fn kernel_gradient_rows(w: &Interaction, x: ArrayView2<f64>, pop: &[f64]) -> Vec<f64> {
    let d = x.ncols();
    let inv_n = 1.0 / (pop.len() / d) as f64;
    let mut out = Vec::with_capacity(x.nrows() * d);
    let mut z = vec![0.0; d];
    let mut g = vec![0.0; d];
    let mut acc = vec![0.0; d];
    let mut scratch = KernelScratch::new(d);
    for xi in x.rows() {
        acc.fill(0.0);
        for yj in pop.chunks_exact(d) {
            for ((zk, &xk), &yk) in z.iter_mut().zip(xi.iter()).zip(yj) {
                *zk = xk - yk;
            }
            w.gradient_with(&z, &mut g, &mut scratch);
            acc.iter_mut().zip(&g).for_each(|(a, &gk)| *a += gk);
        }
        out.extend(acc.iter().map(|&a| a * inv_n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small(potential: Option<Potential>, pairing: Pairing) -> SdeConfig {
        SdeConfig { potential, n_particles: 300, n_steps: 4, pairing, ..SdeConfig::default() }
    }

    fn cloud(ds: &SyntheticDataset, k: usize) -> &Array2<f64> {
        &ds.snapshots.get(k).expect("snapshot exists").points
    }

    #[test]
    fn same_config_is_bit_identical_and_seed_matters() {
        let w = Interaction { kernel: Potential::OakleyOhagan, symmetrised: false };
        for pairing in [Pairing::Paired, Pairing::Unpaired] {
            let cfg = SdeConfig { beta: 0.3, interaction: Some(w), ..small(Some(Potential::Flowers), pairing) };
            let a = generate(&cfg).unwrap();
            let b = generate(&cfg).unwrap();
            for k in 0..=cfg.n_steps {
                let bits = |ds: &SyntheticDataset| cloud(ds, k).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "{pairing:?} snapshot {k}");
            }
            let c = generate(&SdeConfig { seed: 1, ..cfg }).unwrap();
            for k in 0..=cfg.n_steps {
                assert_ne!(cloud(&a, k), cloud(&c, k), "{pairing:?} snapshot {k} ignores the seed");
            }
        }
    }

    #[test]
    fn shapes_and_times() {
        let cfg = SdeConfig { dim: 3, ..small(Some(Potential::Ishigami), Pairing::Unpaired) };
        let ds = generate(&cfg).unwrap();
        assert_eq!(ds.snapshots.len(), cfg.n_steps + 1);
        assert_eq!(ds.snapshots.dim(), 3);
        assert_eq!(ds.snapshots.sizes(), vec![300; cfg.n_steps + 1]);
        let want: Vec<f64> = (0..=cfg.n_steps).map(|k| k as f64 * 0.01).collect();
        assert_eq!(ds.snapshots.times(), want);
        assert_eq!(ds.truth.potential, Some(Potential::Ishigami));
        // Initial draw respects U[−4, 4].
        assert!(cloud(&ds, 0).iter().all(|v| (-4.0..4.0).contains(v)));
    }

    #[test]
    fn paired_noiseless_step_is_exactly_minus_dt_grad() {
        for p in [Potential::WavyPlateau, Potential::Rotational, Potential::StyblinskiTang] {
            let ds = generate(&small(Some(p), Pairing::Paired)).unwrap();
            for k in 0..ds.config.n_steps {
                let (x0, x1) = (cloud(&ds, k), cloud(&ds, k + 1));
                let mut g = [0.0; 2];
                for (r0, r1) in x0.rows().into_iter().zip(x1.rows()) {
                    p.gradient(r0.as_slice().unwrap(), &mut g);
                    for c in 0..2 {
                        assert_eq!((r0[c] - 0.01 * g[c]).to_bits(), r1[c].to_bits(), "{p} step {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn unpaired_snapshots_share_no_rows() {
        let rows = |ds: &SyntheticDataset| {
            let mut seen = HashSet::new();
            let mut total = 0;
            for s in ds.snapshots.iter() {
                for r in s.points.rows() {
                    seen.insert(r.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
                    total += 1;
                }
            }
            (seen.len(), total)
        };
        // Flat potential, no noise: a paired run repeats every row, so the check can fail.
        let (distinct, total) = rows(&generate(&small(Some(Potential::Flat), Pairing::Paired)).unwrap());
        assert_eq!(distinct * 5, total);
        let (distinct, total) = rows(&generate(&small(Some(Potential::Flat), Pairing::Unpaired)).unwrap());
        assert_eq!(distinct, total);
    }

    #[test]
    fn sphere_scales_by_1_2_per_step() {
        // V = −10|v|², so x − dt∇V = (1 + 20 dt) x = 1.2 x.
        let ds = generate(&small(Some(Potential::Sphere), Pairing::Paired)).unwrap();
        let x0 = cloud(&ds, 0);
        for k in 1..=4 {
            let want = x0 * 1.2f64.powi(k as i32);
            let err = (cloud(&ds, k) - &want).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
            assert!(err < 1e-12, "step {k}: max error {err}");
        }
        // Unpaired: snapshot k is an independent U[−4, 4] draw run k steps, so it fills
        // [−4·1.2^k, 4·1.2^k] (the 300 × 2 draws reach within 5 % of the edge).
        let ds = generate(&small(Some(Potential::Sphere), Pairing::Unpaired)).unwrap();
        for k in 0..=4 {
            let edge = 4.0 * 1.2f64.powi(k as i32);
            let max = cloud(&ds, k).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(max <= edge && max > 0.95 * edge, "snapshot {k}: max |x| {max}, edge {edge}");
        }
    }

    /// Sample variance of all entries.
    fn variance(values: impl Iterator<Item = f64> + Clone) -> (f64, usize) {
        let n = values.clone().count();
        let mean = values.clone().sum::<f64>() / n as f64;
        (values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64, n)
    }

    #[test]
    fn noise_variance_grows_as_2_beta_dt_k() {
        // Tolerance: 5 standard errors of a Gaussian sample variance, 5·√(2/(m−1))·σ² for m samples.
        let (beta, dt) = (0.5, 0.01);
        let base = SdeConfig { beta, n_particles: 4000, n_steps: 5, ..SdeConfig::default() };
        // Paired: increments x_k − x_0 are N(0, 2β dt k) per coordinate, whatever x_0 is.
        let ds = generate(&SdeConfig { potential: Some(Potential::Flat), pairing: Pairing::Paired, ..base }).unwrap();
        for k in 1..=5 {
            let inc = cloud(&ds, k) - cloud(&ds, 0);
            let (var, m) = variance(inc.iter().copied());
            let want = 2.0 * beta * dt * k as f64;
            let tol = 5.0 * (2.0 / (m - 1) as f64).sqrt() * want;
            assert!((var - want).abs() < tol, "paired k={k}: variance {var}, want {want} ± {tol}");
        }
        // Unpaired, Gaussian start of std 0.1 and no potential: each snapshot has variance
        // 0.01 + 2β dt k per coordinate.
        let init = InitialDistribution::Gaussian { mean: 1.0, std: 0.1 };
        let ds = generate(&SdeConfig { potential: None, init, ..base }).unwrap();
        for k in 0..=5 {
            let (var, m) = variance(cloud(&ds, k).iter().copied());
            let want = 0.01 + 2.0 * beta * dt * k as f64;
            let tol = 5.0 * (2.0 / (m - 1) as f64).sqrt() * want;
            assert!((var - want).abs() < tol, "unpaired k={k}: variance {var}, want {want} ± {tol}");
        }
    }

    /// (1/N) Σ_j f(x_i − x_j) written directly from the definition.
    fn brute_drift(x: &Array2<f64>, grad: impl Fn(&[f64]) -> Vec<f64>) -> Array2<f64> {
        let (n, d) = x.dim();
        let mut out = Array2::zeros((n, d));
        for i in 0..n {
            for j in 0..n {
                let z: Vec<f64> = (0..d).map(|k| x[[i, k]] - x[[j, k]]).collect();
                let g = grad(&z);
                for k in 0..d {
                    out[[i, k]] += g[k] / n as f64;
                }
            }
        }
        out
    }

    fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        (a - b).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v))
    }

    #[test]
    fn interaction_drift_matches_definitions() {
        let kernel = Potential::OakleyOhagan; // not even: ∇W(0) = 10 per coordinate
        let grad = |z: &[f64]| {
            let mut g = vec![0.0; z.len()];
            kernel.gradient(z, &mut g);
            g
        };
        for symmetrised in [false, true] {
            let w = Interaction { kernel, symmetrised };
            let cfg = SdeConfig {
                potential: None,
                interaction: Some(w),
                n_particles: 120,
                n_steps: 1,
                dim: 3,
                pairing: Pairing::Paired,
                ..SdeConfig::default()
            };
            let ds = generate(&cfg).unwrap();
            let x0 = cloud(&ds, 0);
            let want = if symmetrised {
                // The antisymmetric formula ½ (1/N) Σ_j (∇W(x_i − x_j) − ∇W(x_j − x_i)).
                brute_drift(x0, |z| {
                    let neg: Vec<f64> = z.iter().map(|v| -v).collect();
                    grad(z).iter().zip(grad(&neg)).map(|(a, b)| 0.5 * (a - b)).collect()
                })
            } else {
                brute_drift(x0, grad)
            };
            let via_truth = ds.truth.interaction_drift(x0.view(), x0.view()).unwrap();
            assert!(max_abs_diff(&via_truth, &want) < 1e-10, "symmetrised {symmetrised}");
            // The simulator's pairwise loop agrees: x1 = x0 − dt · drift.
            let step_drift = (x0 - cloud(&ds, 1)) / cfg.dt;
            assert!(max_abs_diff(&step_drift, &want) < 1e-8, "symmetrised {symmetrised}");
        }
    }

    #[test]
    fn threaded_drift_is_bit_identical_to_one_chunk() {
        // 600 × 600 kernel calls is above the threading threshold.
        let cfg = SdeConfig { n_particles: 600, n_steps: 1, dim: 3, pairing: Pairing::Paired, ..SdeConfig::default() };
        let x = cloud(&generate(&cfg).unwrap(), 0).clone();
        for symmetrised in [false, true] {
            let w = Interaction { kernel: Potential::Ishigami, symmetrised };
            let threaded = mean_kernel_gradient(&w, x.view(), x.view());
            let serial = kernel_gradient_rows(&w, x.view(), x.as_slice().unwrap());
            let threaded: Vec<u64> = threaded.iter().map(|v| v.to_bits()).collect();
            let serial: Vec<u64> = serial.iter().map(|v| v.to_bits()).collect();
            assert_eq!(threaded, serial, "symmetrised {symmetrised}");
        }
    }

    #[test]
    fn symmetrised_interaction_conserves_the_mean() {
        let mean_shift = |symmetrised: bool| {
            let w = Interaction { kernel: Potential::Relu, symmetrised };
            let cfg = SdeConfig {
                potential: None,
                interaction: Some(w),
                n_particles: 200,
                pairing: Pairing::Paired,
                ..SdeConfig::default()
            };
            let ds = generate(&cfg).unwrap();
            let m0 = cloud(&ds, 0).mean_axis(Axis(0)).unwrap();
            let m5 = cloud(&ds, 5).mean_axis(Axis(0)).unwrap();
            (m5 - m0).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v))
        };
        assert!(mean_shift(true) < 1e-12, "symmetrised shift {}", mean_shift(true));
        // Relu is not even, so the raw kernel pushes the mean (the check can fail).
        assert!(mean_shift(false) > 1e-2, "raw shift {}", mean_shift(false));
    }

    #[test]
    fn ground_truth_helpers() {
        let truth = GroundTruth { potential: None, interaction: None, beta: 0.0, dt: 0.01 };
        let x = ndarray::array![[0.5, -1.2], [1.0, 2.0]];
        assert_eq!(truth.grad_potential(x.view()), Array2::<f64>::zeros((2, 2)));
        assert_eq!(truth.potential_values(x.view()), Array1::<f64>::zeros(2));
        assert_eq!(truth.interaction_drift(x.view(), x.view()).unwrap(), Array2::<f64>::zeros((2, 2)));
        let truth = GroundTruth { potential: Some(Potential::Sphere), ..truth };
        assert_eq!(truth.grad_potential(x.view()), ndarray::array![[-10.0, 24.0], [-20.0, -40.0]]);
        assert_eq!(truth.potential_values(x.view()), ndarray::array![-16.9, -50.0]);
        let truth =
            GroundTruth { interaction: Some(Interaction { kernel: Potential::Sphere, symmetrised: false }), ..truth };
        let pop3 = ndarray::array![[0.0, 0.0, 0.0]];
        assert!(truth.interaction_drift(x.view(), pop3.view()).unwrap_err().message().contains("dimension"));
        let empty = Array2::<f64>::zeros((0, 2));
        assert!(truth.interaction_drift(x.view(), empty.view()).is_err());
        // One-particle population y = 0: ∇W(x − 0) = −20x.
        let origin = ndarray::array![[0.0, 0.0]];
        assert_eq!(truth.interaction_drift(x.view(), origin.view()).unwrap(), &x * -20.0);
    }

    #[test]
    fn invalid_configs_are_rejected_with_messages() {
        let ok = SdeConfig::default();
        assert!(ok.validate().is_ok());
        let half_mean_w = Interaction { kernel: Potential::Rotational, symmetrised: true };
        let cases: Vec<(SdeConfig, &str)> = vec![
            (SdeConfig { dt: 0.0, ..ok }, "dt"),
            (SdeConfig { dt: f64::NAN, ..ok }, "dt"),
            (SdeConfig { dt: f64::INFINITY, ..ok }, "dt"),
            (SdeConfig { beta: -0.1, ..ok }, "beta"),
            (SdeConfig { beta: f64::NAN, ..ok }, "beta"),
            (SdeConfig { n_steps: 0, ..ok }, "n_steps"),
            (SdeConfig { n_particles: 1, ..ok }, "n_particles"),
            (SdeConfig { dim: 0, ..ok }, "dim"),
            (SdeConfig { dim: 1, potential: Some(Potential::HolderTable), ..ok }, "holder_table"),
            (SdeConfig { dim: 1, interaction: Some(half_mean_w), ..ok }, "interaction kernel"),
            (SdeConfig { init: InitialDistribution::Uniform { low: 1.0, high: 1.0 }, ..ok }, "low < high"),
            (SdeConfig { init: InitialDistribution::Gaussian { mean: 0.0, std: 0.0 }, ..ok }, "std"),
            (SdeConfig { init: InitialDistribution::Gaussian { mean: f64::NAN, std: 1.0 }, ..ok }, "mean"),
        ];
        for (cfg, needle) in cases {
            let err = generate(&cfg).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidArgument);
            assert!(err.message().contains(needle), "message '{err}' should mention '{needle}'");
        }
        // 1-D works for functions that do not use half-means.
        let one_d = SdeConfig { dim: 1, n_particles: 10, ..ok };
        assert_eq!(generate(&one_d).unwrap().snapshots.dim(), 1);
    }

    #[test]
    fn divergence_is_a_numerical_error() {
        // The repeller multiplies by 1.2 per step and overflows after about 3900 steps.
        let cfg = SdeConfig {
            potential: Some(Potential::Sphere),
            n_particles: 2,
            dim: 1,
            n_steps: 5000,
            pairing: Pairing::Paired,
            ..SdeConfig::default()
        };
        let err = generate(&cfg).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Numerical);
        assert!(err.message().contains("diverged"), "{err}");
    }

    /// Timing of the reference-sized run with an interaction (N = 2000, T = 5); run with
    /// `cargo test --lib synth::generator::tests::timing -- --ignored --nocapture` (the test
    /// profile is opt-level 3).
    #[test]
    #[ignore]
    fn timing_reference_size_with_interaction() {
        let kernels = [None, Some(Potential::WavyPlateau), Some(Potential::Flowers)];
        for pairing in [Pairing::Paired, Pairing::Unpaired] {
            for kernel in kernels {
                let interaction = kernel.map(|kernel| Interaction { kernel, symmetrised: false });
                let cfg = SdeConfig { interaction, pairing, beta: 0.1, ..SdeConfig::default() };
                let start = std::time::Instant::now();
                generate(&cfg).unwrap();
                println!("{pairing:?} interaction {kernel:?}: {:?}", start.elapsed());
            }
        }
    }
}

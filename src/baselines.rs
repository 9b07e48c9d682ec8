//! Naive predictions that every model must beat, fitted on the training snapshots:
//!
//! - **no motion**: ρ_{k+1} ≈ ρ_k (x ↦ x);
//! - **mean shift**: x ↦ x + m_{k+1} − m_k;
//! - **affine OT**: the optimal-transport map between the Gaussians N(m_k, Σ_k) and
//!   N(m_{k+1}, Σ_{k+1}), x ↦ m_{k+1} + A_k (x − m_k) with
//!   A = Σ_k^{-1/2} (Σ_k^{1/2} Σ_{k+1} Σ_k^{1/2})^{1/2} Σ_k^{-1/2} (symmetric positive definite).
//!
//! Covariances are Ledoit–Wolf shrunk towards a multiple of the identity, so that the map exists
//! (and is not wildly over-fitted) when a snapshot has fewer cells than dimensions.
//! The same Gaussian fits warm-start iJKOnet (its maps start at the affine OT map).

use crate::data::Snapshots;
use crate::error::{Error, Result};
use crate::linalg::{mean_and_covariance, sqrtm_psd, symmetric_eigen};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use std::fmt;
use std::str::FromStr;

/// Mean and shrunk covariance of one point cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianFit {
    pub mean: Array1<f64>,
    /// (1 − δ) S + δ (tr S / d) I with the Ledoit–Wolf δ; S has the 1/n normalisation.
    pub cov: Array2<f64>,
    /// The shrinkage intensity δ ∈ [0, 1].
    pub shrinkage: f64,
    /// Number of points fitted.
    pub samples: usize,
}

impl GaussianFit {
    /// Ledoit–Wolf (2004) fit: δ = min(1, b̄²/d̄²) with d̄² = ‖S − μI‖²_F and
    /// b̄² = (1/n²) Σ_i ‖x_i x_iᵀ − S‖²_F for centred rows x_i.
    pub fn ledoit_wolf(x: ArrayView2<f64>) -> Result<GaussianFit> {
        let (n, d) = x.dim();
        if n < 2 {
            return Err(Error::invalid_data(format!("a Gaussian fit needs at least 2 points, got {n}")));
        }
        let (mean, s) = mean_and_covariance(x)?;
        let mu = s.diag().sum() / d as f64;
        let mut target_dist = 0.0;
        for ((i, j), v) in s.indexed_iter() {
            let t = if i == j { v - mu } else { *v };
            target_dist += t * t;
        }
        let centred = &x - &mean.view().insert_axis(Axis(0));
        // Σ_i ‖x_i x_iᵀ − S‖²_F = Σ_i ‖x_i‖⁴ − n ‖S‖²_F (since Σ_i x_i x_iᵀ = n S).
        let s_norm2: f64 = s.iter().map(|v| v * v).sum();
        let fourth: f64 = centred.rows().into_iter().map(|r| r.dot(&r).powi(2)).sum();
        let b2 = ((fourth - n as f64 * s_norm2) / (n as f64 * n as f64)).max(0.0);
        let shrinkage = if target_dist > 0.0 { (b2 / target_dist).min(1.0) } else { 1.0 };
        let mut cov = &s * (1.0 - shrinkage);
        for i in 0..d {
            cov[[i, i]] += shrinkage * mu;
        }
        Ok(GaussianFit { mean, cov, shrinkage, samples: n })
    }

    /// The same Gaussian seen through x ↦ (x − centre)/scale.
    pub fn normalised(&self, norm: &Normalisation) -> GaussianFit {
        GaussianFit {
            mean: (&self.mean - &norm.centre) / norm.scale,
            cov: &self.cov / (norm.scale * norm.scale),
            shrinkage: self.shrinkage,
            samples: self.samples,
        }
    }
}

/// An affine map x ↦ A x + c.
#[derive(Debug, Clone, PartialEq)]
pub struct AffineMap {
    pub a: Array2<f64>,
    pub c: Array1<f64>,
}

impl AffineMap {
    pub fn identity(dim: usize) -> AffineMap {
        AffineMap { a: Array2::eye(dim), c: Array1::zeros(dim) }
    }

    /// x ↦ x + m_1 − m_0.
    pub fn mean_shift(from: &GaussianFit, to: &GaussianFit) -> AffineMap {
        AffineMap { a: Array2::eye(from.mean.len()), c: &to.mean - &from.mean }
    }

    /// The W2-optimal map between N(m_0, Σ_0) and N(m_1, Σ_1).
    pub fn gaussian_ot(from: &GaussianFit, to: &GaussianFit) -> Result<AffineMap> {
        let (lambda, q) = symmetric_eigen(from.cov.view())?;
        let floor = lambda.iter().cloned().fold(0.0f64, f64::max) * 1e-12 + f64::MIN_POSITIVE;
        let root = lambda.mapv(|l| l.max(floor).sqrt());
        let s_half = q.dot(&Array2::from_diag(&root)).dot(&q.t());
        let s_inv_half = q.dot(&Array2::from_diag(&root.mapv(|r| 1.0 / r))).dot(&q.t());
        let middle = s_half.dot(&to.cov).dot(&s_half);
        let middle_root = sqrtm_psd(((&middle + &middle.t()) * 0.5).view())?;
        let a = s_inv_half.dot(&middle_root).dot(&s_inv_half);
        let a = (&a + &a.t()) * 0.5;
        let c = &to.mean - &a.dot(&from.mean);
        if a.iter().chain(c.iter()).any(|v| !v.is_finite()) {
            return Err(Error::numerical("the affine OT map between two snapshots is not finite"));
        }
        Ok(AffineMap { a, c })
    }

    /// Apply to the rows of `x`.
    pub fn apply(&self, x: ArrayView2<f64>) -> Array2<f64> {
        x.dot(&self.a.t()) + self.c.view().insert_axis(Axis(0))
    }
}

/// Which naive prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    NoMotion,
    MeanShift,
    AffineOt,
}

impl Baseline {
    pub const ALL: [Baseline; 3] = [Baseline::NoMotion, Baseline::MeanShift, Baseline::AffineOt];

    /// Key names: `no_motion`, `mean_shift`, `affine_ot`.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::NoMotion => "no_motion",
            Baseline::MeanShift => "mean_shift",
            Baseline::AffineOt => "affine_ot",
        }
    }
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Baseline {
    type Err = Error;
    fn from_str(s: &str) -> Result<Baseline> {
        Baseline::ALL.into_iter().find(|b| b.name() == s.trim()).ok_or_else(|| {
            Error::invalid_argument(format!("unknown baseline '{s}': expected no_motion, mean_shift or affine_ot"))
        })
    }
}

/// The Gaussian fits of the training snapshots (data units), from which every baseline predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct Baselines {
    pub fits: Vec<GaussianFit>,
}

impl Baselines {
    pub fn fit(data: &Snapshots) -> Result<Baselines> {
        Ok(Baselines { fits: data.iter().map(|s| GaussianFit::ledoit_wolf(s.points.view())).collect::<Result<_>>()? })
    }

    pub fn dim(&self) -> usize {
        self.fits[0].mean.len()
    }

    /// The map of `kind` for step k → k+1.
    pub fn map(&self, kind: Baseline, k: usize) -> Result<AffineMap> {
        if k + 1 >= self.fits.len() {
            return Err(Error::invalid_argument(format!(
                "step {k} out of range: the baselines have {} steps",
                self.fits.len().saturating_sub(1)
            )));
        }
        Ok(match kind {
            Baseline::NoMotion => AffineMap::identity(self.dim()),
            Baseline::MeanShift => AffineMap::mean_shift(&self.fits[k], &self.fits[k + 1]),
            Baseline::AffineOt => AffineMap::gaussian_ot(&self.fits[k], &self.fits[k + 1])?,
        })
    }

    /// The baseline prediction of snapshot k+1 from points `x` of snapshot k.
    pub fn predict(&self, kind: Baseline, k: usize, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        crate::check::points(x, "baseline prediction", "x")?;
        if x.ncols() != self.dim() {
            return Err(Error::invalid_argument(format!(
                "baseline prediction: points have dimension {}, the baselines {}",
                x.ncols(),
                self.dim()
            )));
        }
        Ok(self.map(kind, k)?.apply(x))
    }

    /// One-step W1 of `kind` on `test` (same snapshots as the fits), per step.
    pub fn one_step_w1(&self, kind: Baseline, test: &Snapshots) -> Result<Vec<f64>> {
        if test.len() != self.fits.len() || test.dim() != self.dim() {
            return Err(Error::invalid_argument(format!(
                "evaluation data have {} snapshots of dimension {}, the baselines {} of dimension {}",
                test.len(),
                test.dim(),
                self.fits.len(),
                self.dim()
            )));
        }
        crate::metrics::ot::one_step_w1(test, |k, x| self.predict(kind, k, x))
    }
}

/// For each step k: (W1 between cells of snapshots k and k+1, W1 between two disjoint halves of
/// snapshot k+1), on seeded equal-size subsamples (at most 500 cells each). The second number is
/// the sampling noise of unpaired clouds of that size: when the first is not clearly above it, the
/// populations move less per step than samples of one population differ, and the drift is barely
/// identifiable from these data.
pub fn drift_signal(data: &Snapshots, seed: u64) -> Result<Vec<(f64, f64)>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut perm = |n: usize| {
        let mut p: Vec<usize> = (0..n).collect();
        p.shuffle(&mut rng);
        p
    };
    (0..data.len() - 1)
        .map(|k| {
            let (a, b) = (&data.get(k).expect("k").points, &data.get(k + 1).expect("k+1").points);
            let m = (a.nrows() / 2).min(b.nrows() / 2).clamp(1, 500);
            let (pa, pb) = (perm(a.nrows()), perm(b.nrows()));
            let a1 = a.select(Axis(0), &pa[..m]);
            let b1 = b.select(Axis(0), &pb[..m]);
            let b2 = b.select(Axis(0), &pb[m..2 * m]);
            Ok((crate::metrics::ot::w1(a1.view(), b2.view())?, crate::metrics::ot::w1(b1.view(), b2.view())?))
        })
        .collect()
}

/// How the model's coordinates relate to the data's: z = (x − centre)/scale, one scale for all
/// features so that Euclidean (and Wasserstein) geometry is only rescaled, never distorted: the
/// gradient flow learned in z is exactly a gradient flow in x, and ∇V converts by the chain rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    pub centre: Array1<f64>,
    pub scale: f64,
}

/// Which normalisation the trainer fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NormalisationKind {
    /// Centre on the pooled mean, divide by the root-mean-square feature standard deviation.
    #[default]
    Isotropic,
    /// Train in the data's own coordinates.
    None,
}

impl NormalisationKind {
    pub fn name(self) -> &'static str {
        match self {
            NormalisationKind::Isotropic => "isotropic",
            NormalisationKind::None => "none",
        }
    }
}

impl FromStr for NormalisationKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "isotropic" => Ok(NormalisationKind::Isotropic),
            "none" => Ok(NormalisationKind::None),
            _ => {
                Err(Error::invalid_argument(format!("invalid value '{s}' for 'normalise': expected isotropic or none")))
            }
        }
    }
}

impl Normalisation {
    pub fn identity(dim: usize) -> Normalisation {
        Normalisation { centre: Array1::zeros(dim), scale: 1.0 }
    }

    /// Fit on all points of all snapshots: z spreads with root-mean-square `spread` per feature.
    pub fn fit(data: &Snapshots, kind: NormalisationKind, spread: f64) -> Normalisation {
        let d = data.dim();
        if kind == NormalisationKind::None {
            return Normalisation::identity(d);
        }
        let total: usize = data.sizes().iter().sum();
        let mut centre = Array1::<f64>::zeros(d);
        for s in data.iter() {
            centre += &s.points.sum_axis(Axis(0));
        }
        centre /= total as f64;
        let mut sq = 0.0;
        for s in data.iter() {
            let c = &s.points - &centre.view().insert_axis(Axis(0));
            sq += c.iter().map(|v| v * v).sum::<f64>();
        }
        let rms = (sq / (total * d) as f64).sqrt();
        let scale = if rms.is_finite() && rms > 0.0 { rms / spread } else { 1.0 };
        Normalisation { centre, scale }
    }

    pub fn is_identity(&self) -> bool {
        self.scale == 1.0 && self.centre.iter().all(|&c| c == 0.0)
    }

    /// Data → model coordinates.
    pub fn to_model(&self, x: ArrayView2<f64>) -> Array2<f64> {
        (&x - &self.centre.view().insert_axis(Axis(0))) / self.scale
    }

    /// Model → data coordinates.
    pub fn to_data(&self, z: ArrayView2<f64>) -> Array2<f64> {
        &z * self.scale + self.centre.view().insert_axis(Axis(0))
    }

    /// Every snapshot in model coordinates.
    pub fn snapshots(&self, data: &Snapshots) -> Result<Snapshots> {
        Snapshots::new(data.times(), data.iter().map(|s| self.to_model(s.points.view())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn gaussian(n: usize, mean: &[f64], l: &Array2<f64>, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = mean.len();
        let z = Array2::from_shape_fn((n, d), |_| rng.sample::<f64, _>(StandardNormal));
        z.dot(&l.t()) + &Array1::from(mean.to_vec()).insert_axis(Axis(0))
    }

    #[test]
    fn affine_ot_is_exact_between_gaussians_and_pushes_moments() {
        let from = GaussianFit {
            mean: Array1::from(vec![1.0, -2.0]),
            cov: ndarray::array![[2.0, 0.5], [0.5, 1.0]],
            shrinkage: 0.0,
            samples: 100,
        };
        let to = GaussianFit {
            mean: Array1::from(vec![0.5, 3.0]),
            cov: ndarray::array![[1.0, -0.3], [-0.3, 3.0]],
            shrinkage: 0.0,
            samples: 100,
        };
        let m = AffineMap::gaussian_ot(&from, &to).unwrap();
        // A Σ_0 A = Σ_1 and A m_0 + c = m_1: the map pushes N(m_0, Σ_0) exactly onto N(m_1, Σ_1).
        let pushed = m.a.dot(&from.cov).dot(&m.a);
        for (p, q) in pushed.iter().zip(to.cov.iter()) {
            assert!((p - q).abs() < 1e-10, "{pushed} vs {}", to.cov);
        }
        let pm = m.a.dot(&from.mean) + &m.c;
        assert!((&pm - &to.mean).iter().all(|v| v.abs() < 1e-12));
        // Symmetric positive definite: the gradient of a convex function, hence W2-optimal.
        assert!((m.a[[0, 1]] - m.a[[1, 0]]).abs() < 1e-14);
        let (l, _) = symmetric_eigen(m.a.view()).unwrap();
        assert!(l.iter().all(|&v| v > 0.0));
    }

    #[test]
    fn mean_shift_and_affine_map_recover_a_gaussian_step() {
        // Snapshot 1 is an exact affine image of snapshot 0's Gaussian: both baselines move the
        // mean exactly; the affine map also matches the spread, so it beats the mean shift.
        let l0 = ndarray::array![[1.0, 0.0], [0.4, 0.6]];
        let l1 = ndarray::array![[2.0, 0.0], [-0.5, 0.5]];
        let x0 = gaussian(4000, &[0.0, 0.0], &l0, 1);
        let x1 = gaussian(4000, &[3.0, 1.0], &l1, 2);
        let test0 = gaussian(1000, &[0.0, 0.0], &l0, 3);
        let test1 = gaussian(1000, &[3.0, 1.0], &l1, 4);
        let train = Snapshots::new(vec![0.0, 1.0], vec![x0, x1]).unwrap();
        let test = Snapshots::new(vec![0.0, 1.0], vec![test0.clone(), test1]).unwrap();
        let b = Baselines::fit(&train).unwrap();
        let shifted = b.predict(Baseline::MeanShift, 0, test0.view()).unwrap();
        let moved = shifted.mean_axis(Axis(0)).unwrap() - test0.mean_axis(Axis(0)).unwrap();
        assert!((moved[0] - 3.0).abs() < 0.1 && (moved[1] - 1.0).abs() < 0.1, "{moved}");
        let w = |k| b.one_step_w1(k, &test).unwrap()[0];
        let (none, shift, affine) = (w(Baseline::NoMotion), w(Baseline::MeanShift), w(Baseline::AffineOt));
        assert!(affine < shift && shift < none, "{none} {shift} {affine}");
        // Two samples of one distribution: only the sampling floor remains (≈ 0.1 for 1000 points in 2-D).
        assert!(affine < 0.2, "{affine}");
    }

    #[test]
    fn ledoit_wolf_gives_a_positive_definite_covariance_with_fewer_points_than_dimensions() {
        let d = 20;
        let x = gaussian(8, &vec![0.0; d], &Array2::eye(d), 5);
        let fit = GaussianFit::ledoit_wolf(x.view()).unwrap();
        assert!(fit.shrinkage > 0.0 && fit.shrinkage <= 1.0);
        let (l, _) = symmetric_eigen(fit.cov.view()).unwrap();
        assert!(l[0] > 0.0, "smallest eigenvalue {}", l[0]);
        let b = Baselines { fits: vec![fit.clone(), fit] };
        let m = b.map(Baseline::AffineOt, 0).unwrap();
        // Between one Gaussian and itself the OT map is the identity.
        for ((i, j), v) in m.a.indexed_iter() {
            assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-8);
        }
    }

    #[test]
    fn normalisation_round_trips_and_is_isotropic() {
        let x = gaussian(500, &[100.0, -7.0, 3.0], &(Array2::eye(3) * 50.0), 6);
        let y = gaussian(300, &[120.0, -7.0, 3.0], &(Array2::eye(3) * 50.0), 7);
        let data = Snapshots::new(vec![0.0, 1.0], vec![x.clone(), y]).unwrap();
        let n = Normalisation::fit(&data, NormalisationKind::Isotropic, 1.0);
        assert!((n.scale - 50.0).abs() < 5.0, "{}", n.scale);
        let wide = Normalisation::fit(&data, NormalisationKind::Isotropic, 2.0);
        assert!((wide.scale - n.scale / 2.0).abs() < 1e-12 && wide.centre == n.centre);
        let z = n.to_model(x.view());
        let back = n.to_data(z.view());
        assert!((&back - &x).iter().all(|v| v.abs() < 1e-9));
        assert!(Normalisation::fit(&data, NormalisationKind::None, 2.0).is_identity());
    }

    #[test]
    fn drift_signal_separates_motion_from_sampling_noise() {
        let eye = Array2::eye(2);
        let still = Snapshots::new(
            vec![0.0, 1.0],
            vec![gaussian(400, &[0.0, 0.0], &eye, 8), gaussian(400, &[0.0, 0.0], &eye, 9)],
        )
        .unwrap();
        let moving = Snapshots::new(
            vec![0.0, 1.0],
            vec![gaussian(400, &[0.0, 0.0], &eye, 8), gaussian(400, &[2.0, 0.0], &eye, 9)],
        )
        .unwrap();
        let (between, noise) = drift_signal(&still, 0).unwrap()[0];
        assert!(between < 1.5 * noise, "{between} {noise}");
        let (between, noise) = drift_signal(&moving, 0).unwrap()[0];
        assert!(between > 5.0 * noise, "{between} {noise}");
    }
}

//! Bures–Wasserstein distance between the Gaussian moment fits of two samples, and the
//! BW₂²-UVP of spec §9 (eqs. 20, 21; Korotin et al. 2021).
//!
//! Means and covariances are the empirical ones with the 1/n normalisation (see
//! [`crate::linalg::mean_and_covariance`]), used throughout, including Var(target) = tr Σ_target.

use crate::error::{Error, Result};
use crate::linalg::{mean_and_covariance, sqrtm_psd, trace_sqrtm_psd};
use ndarray::{Array1, Array2, ArrayView2};

fn moments(s: ArrayView2<f64>, name: &str, what: &str) -> Result<(Array1<f64>, Array2<f64>)> {
    crate::check::points(s, what, &format!("sample {name}"))?;
    mean_and_covariance(s).map_err(|e| e.context(format!("{what}: sample {name}")))
}

/// BW² from means and covariances; the cross term uses S = Σ_x^{1/2} and the eigenvalues of
/// S Σ_y S, which is symmetric PSD.
fn bures_from_moments(
    mean_x: &Array1<f64>,
    cov_x: &Array2<f64>,
    mean_y: &Array1<f64>,
    cov_y: &Array2<f64>,
) -> Result<f64> {
    let mean_term: f64 = mean_x.iter().zip(mean_y.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
    let root_x = sqrtm_psd(cov_x.view())?;
    let product = root_x.dot(cov_y).dot(&root_x);
    // Exact symmetrisation: the two products differ from symmetric only by round-off.
    let product = (&product + &product.t()) * 0.5;
    let cross = trace_sqrtm_psd(product.view())?;
    let value = mean_term + cov_x.diag().sum() + cov_y.diag().sum() - 2.0 * cross;
    if !value.is_finite() {
        return Err(Error::numerical(format!("bures_wasserstein_squared: result is not finite ({value})")));
    }
    // ≥ 0 in exact arithmetic (it is W₂² between two Gaussians); clamp cancellation round-off.
    Ok(value.max(0.0))
}

/// Squared Bures–Wasserstein distance between the Gaussian fits of samples `x` (n×d) and `y`
/// (m×d): ‖μ_x − μ_y‖² + tr Σ_x + tr Σ_y − 2 tr (Σ_x^{1/2} Σ_y Σ_x^{1/2})^{1/2}, with empirical
/// means and 1/n-normalised covariances. Round-off below 0 is clamped to 0.
pub fn bures_wasserstein_squared(x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<f64> {
    const WHAT: &str = "bures_wasserstein_squared";
    let (mean_x, cov_x) = moments(x, "x", WHAT)?;
    let (mean_y, cov_y) = moments(y, "y", WHAT)?;
    if mean_x.len() != mean_y.len() {
        return Err(Error::invalid_argument(format!(
            "{WHAT}: dimension mismatch (x has d = {}, y has d = {})",
            mean_x.len(),
            mean_y.len()
        )));
    }
    bures_from_moments(&mean_x, &cov_x, &mean_y, &cov_y).map_err(|e| e.context(WHAT))
}

/// BW₂²-UVP in percent: 100 · BW²(predicted, target) / (½ · tr Σ_target), with the same 1/n
/// covariances. Errors if the target's variance is 0 (the ratio is undefined).
pub fn bw_uvp(predicted: ArrayView2<f64>, target: ArrayView2<f64>) -> Result<f64> {
    const WHAT: &str = "bw_uvp";
    let (mean_p, cov_p) = moments(predicted, "predicted", WHAT)?;
    let (mean_t, cov_t) = moments(target, "target", WHAT)?;
    if mean_p.len() != mean_t.len() {
        return Err(Error::invalid_argument(format!(
            "{WHAT}: dimension mismatch (predicted has d = {}, target has d = {})",
            mean_p.len(),
            mean_t.len()
        )));
    }
    let variance = cov_t.diag().sum();
    if variance <= 0.0 {
        return Err(Error::invalid_data(format!(
            "{WHAT}: target sample has zero variance (all {} points equal)",
            target.nrows()
        )));
    }
    let bw2 = bures_from_moments(&mean_p, &cov_p, &mean_t, &cov_t).map_err(|e| e.context(WHAT))?;
    Ok(100.0 * bw2 / (0.5 * variance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn gaussian(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| rng.sample(StandardNormal))
    }

    /// The 2d points ±s_i e_i (+ shift): mean `shift`, covariance exactly diag(s_i²/d) (1/n).
    fn cross(scales: &[f64], shift: &[f64]) -> Array2<f64> {
        let d = scales.len();
        Array2::from_shape_fn((2 * d, d), |(r, c)| {
            let axis = r / 2;
            let sign = if r % 2 == 0 { 1.0 } else { -1.0 };
            shift[c] + if c == axis { sign * scales[axis] } else { 0.0 }
        })
    }

    #[test]
    fn commuting_covariances_closed_form() {
        // Σ_x = diag(a), Σ_y = diag(b): BW² = ‖Δμ‖² + Σ (√a_i − √b_i)², with a_i = s_i²/d.
        let s = [1.0, 2.0, 0.5, 3.0];
        let t = [2.0, 0.5, 0.5, 1.0];
        let shift = [0.3, -1.0, 2.0, 0.0];
        let d = s.len() as f64;
        let expected = shift.iter().map(|v| v * v).sum::<f64>()
            + s.iter().zip(&t).map(|(a, b)| (a - b) * (a - b) / d).sum::<f64>();
        let x = cross(&s, &[0.0; 4]);
        let y = cross(&t, &shift);
        let got = bures_wasserstein_squared(x.view(), y.view()).unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        // Rotating both clouds by the same orthogonal Q keeps the covariances commuting (and
        // non-diagonal); the distance is rotation invariant.
        let v = array![1.0, -2.0, 0.5, 1.5];
        let q = Array2::<f64>::eye(4) - Array2::from_shape_fn((4, 4), |(i, j)| 2.0 * v[i] * v[j] / v.dot(&v));
        let got = bures_wasserstein_squared(x.dot(&q).view(), y.dot(&q).view()).unwrap();
        assert!((got - expected).abs() < 1e-12, "rotated: {got} vs {expected}");
    }

    #[test]
    fn one_dimensional_closed_form() {
        // d = 1: BW² = (μ_x − μ_y)² + (σ_x − σ_y)².
        let x = gaussian(500, 1, 1);
        let y = gaussian(300, 1, 2).mapv(|v| 2.5 * v - 1.0);
        let stats = |s: &Array2<f64>| {
            let m = s.sum() / s.len() as f64;
            (m, (s.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / s.len() as f64).sqrt())
        };
        let ((mx, sx), (my, sy)) = (stats(&x), stats(&y));
        let expected = (mx - my).powi(2) + (sx - sy).powi(2);
        let got = bures_wasserstein_squared(x.view(), y.view()).unwrap();
        assert!((got - expected).abs() < 1e-12 * (1.0 + expected), "{got} vs {expected}");
    }

    #[test]
    fn non_commuting_two_dimensional_closed_form() {
        // For 2×2 PSD M, tr √M = √(tr M + 2√det M); with M = Σ_x^{1/2} Σ_y Σ_x^{1/2},
        // tr M = tr(Σ_x Σ_y) and det M = det Σ_x · det Σ_y. Covariances recomputed here by hand.
        let x = gaussian(400, 2, 3).dot(&array![[1.0, 0.7], [0.0, 0.5]]);
        let y = gaussian(350, 2, 4).dot(&array![[0.3, -0.2], [0.9, 1.4]]) + &array![1.0, -2.0];
        let moments = |s: &Array2<f64>| {
            let n = s.nrows() as f64;
            let m: Array1<f64> = s.sum_axis(ndarray::Axis(0)) / n;
            let c = s - &m;
            (m, c.t().dot(&c) / n)
        };
        let ((mx, cx), (my, cy)) = (moments(&x), moments(&y));
        let det = |a: &Array2<f64>| a[[0, 0]] * a[[1, 1]] - a[[0, 1]] * a[[1, 0]];
        let tr_m = cx.dot(&cy).diag().sum();
        let cross = (tr_m + 2.0 * (det(&cx) * det(&cy)).sqrt()).sqrt();
        let expected = (&mx - &my).mapv(|v| v * v).sum() + cx.diag().sum() + cy.diag().sum() - 2.0 * cross;
        let got = bures_wasserstein_squared(x.view(), y.view()).unwrap();
        assert!((got - expected).abs() < 1e-11 * (1.0 + expected), "{got} vs {expected}");
    }

    #[test]
    fn zero_symmetry_and_translation() {
        let x = gaussian(300, 5, 5).dot(&gaussian(5, 5, 6));
        let y = gaussian(250, 5, 7);
        let bxx = bures_wasserstein_squared(x.view(), x.view()).unwrap();
        let scale = x.mapv(|v| v * v).sum() / 300.0;
        assert!(bxx < 1e-10 * scale, "BW²(X, X) = {bxx}");
        let bxy = bures_wasserstein_squared(x.view(), y.view()).unwrap();
        let byx = bures_wasserstein_squared(y.view(), x.view()).unwrap();
        assert!((bxy - byx).abs() < 1e-10 * bxy, "{bxy} vs {byx}");
        // BW²(X, X + v) = ‖v‖².
        let v = array![1.0, -0.5, 2.0, 0.0, 0.25];
        let moved = &x + &v;
        let got = bures_wasserstein_squared(x.view(), moved.view()).unwrap();
        assert!((got - v.dot(&v)).abs() < 1e-9, "{got} vs {}", v.dot(&v));
        // The two-argument identity: BW²(X, Y + v) − BW²(X, Y) = ‖Δμ + v‖² − ‖Δμ‖², Δμ = μ_y − μ_x.
        let dmu = y.sum_axis(ndarray::Axis(0)) / 250.0 - x.sum_axis(ndarray::Axis(0)) / 300.0;
        let shifted = bures_wasserstein_squared(x.view(), (&y + &v).view()).unwrap();
        let delta = (&dmu + &v).mapv(|a| a * a).sum() - dmu.mapv(|a| a * a).sum();
        assert!((shifted - bxy - delta).abs() < 1e-9, "{} vs {delta}", shifted - bxy);
    }

    #[test]
    fn uvp_exact_value() {
        // Target: cross with scales (2, 2) → tr Σ = 4/2 + 4/2 = 4. Prediction: the same cross
        // shifted by (1, 1) → BW² = 2, so UVP = 100 · 2 / 2 = 100.
        let target = cross(&[2.0, 2.0], &[0.0, 0.0]);
        let predicted = cross(&[2.0, 2.0], &[1.0, 1.0]);
        let got = bw_uvp(predicted.view(), target.view()).unwrap();
        assert!((got - 100.0).abs() < 1e-12, "{got}");
        // Scale-free: scaling both by 10 leaves the UVP unchanged.
        let got = bw_uvp((&predicted * 10.0).view(), (&target * 10.0).view()).unwrap();
        assert!((got - 100.0).abs() < 1e-10, "{got}");
        assert!(bw_uvp(target.view(), target.view()).unwrap() < 1e-12);
    }

    #[test]
    fn bad_input_is_rejected() {
        let x = gaussian(10, 2, 8);
        assert!(bures_wasserstein_squared(x.view(), gaussian(10, 3, 9).view()).is_err());
        assert!(bures_wasserstein_squared(x.view(), Array2::<f64>::zeros((0, 2)).view()).is_err());
        assert!(bures_wasserstein_squared(Array2::<f64>::zeros((4, 0)).view(), x.view()).is_err());
        let mut bad = x.clone();
        bad[[0, 0]] = f64::INFINITY;
        assert!(bures_wasserstein_squared(bad.view(), x.view()).is_err());
        assert!(bw_uvp(x.view(), bad.view()).is_err());
        // Zero target variance.
        assert!(bw_uvp(x.view(), Array2::<f64>::ones((6, 2)).view()).is_err());
        assert!(bw_uvp(x.view(), gaussian(10, 3, 10).view()).is_err());
    }
}

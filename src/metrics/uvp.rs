//! L²-UVP of a learned gradient field against the ground truth (spec §9, eq. 19, reconstructed),
//! and a scale-free relative L² error.

use crate::error::{Error, Result};
use crate::linalg::mean_and_covariance;
use ndarray::ArrayView2;

fn check_pair(learned: ArrayView2<f64>, truth: ArrayView2<f64>, what: &str) -> Result<()> {
    crate::check::points(learned, what, "learned field")?;
    crate::check::points(truth, what, "true field")?;
    if learned.dim() != truth.dim() {
        return Err(Error::invalid_argument(format!(
            "{what}: learned field is {:?} but true field is {:?} (must be the same n points × d)",
            learned.dim(),
            truth.dim()
        )));
    }
    Ok(())
}

/// Mean over points of ‖a_i − b_i‖².
fn mean_squared_difference(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(u, v)| (u - v) * (u - v)).sum::<f64>() / a.nrows() as f64
}

/// L²-UVP in percent: 100 · mean_i ‖τ·learned_i − τ·truth_i‖² / Var(reference).
///
/// `learned` and `truth` are the two gradient fields (∇V̂ and ∇V*, n×d) evaluated at the same n
/// points, which are samples of ρ_{k+1}, so the mean is the squared L²(ρ_{k+1}) norm of the
/// difference of the backward maps y ↦ y + τ∇V(y). `reference` holds samples of ρ_k and
/// Var(reference) = tr Σ_reference with the 1/n covariance. τ > 0 is the JKO step size: the value
/// scales as τ², so for a τ-free comparison use [`relative_l2_error`], in which τ² cancels.
pub fn l2_uvp(learned: ArrayView2<f64>, truth: ArrayView2<f64>, tau: f64, reference: ArrayView2<f64>) -> Result<f64> {
    const WHAT: &str = "l2_uvp";
    check_pair(learned, truth, WHAT)?;
    if !(tau.is_finite() && tau > 0.0) {
        return Err(Error::invalid_argument(format!("{WHAT}: step size τ must be finite and > 0, got {tau}")));
    }
    crate::check::points(reference, WHAT, "reference sample")?;
    if reference.ncols() != truth.ncols() {
        return Err(Error::invalid_argument(format!(
            "{WHAT}: reference sample has d = {} but the fields have d = {}",
            reference.ncols(),
            truth.ncols()
        )));
    }
    let (_, cov) = mean_and_covariance(reference).map_err(|e| e.context(WHAT))?;
    let variance = cov.diag().sum();
    if variance <= 0.0 {
        return Err(Error::invalid_data(format!(
            "{WHAT}: reference sample has zero variance (all {} points equal)",
            reference.nrows()
        )));
    }
    Ok(100.0 * tau * tau * mean_squared_difference(learned, truth) / variance)
}

/// Relative L² error mean_i ‖learned_i − truth_i‖² / mean_i ‖truth_i‖² (a fraction, not percent):
/// the scale-free companion of [`l2_uvp`], invariant to τ and to a common rescaling of both
/// fields. Errors if the true field is identically 0.
pub fn relative_l2_error(learned: ArrayView2<f64>, truth: ArrayView2<f64>) -> Result<f64> {
    const WHAT: &str = "relative_l2_error";
    check_pair(learned, truth, WHAT)?;
    let truth_norm: f64 = truth.iter().map(|v| v * v).sum::<f64>() / truth.nrows() as f64;
    if truth_norm == 0.0 {
        return Err(Error::invalid_data(format!("{WHAT}: true field is identically zero")));
    }
    Ok(mean_squared_difference(learned, truth) / truth_norm)
}

/// Mean over rows of the cosine between the learned and the true vector: 1 when every learned
/// vector points the right way, whatever its length; rows where either vector is 0 count as 0.
/// A wrong direction cannot hide behind a small τ² factor here, unlike [`l2_uvp`].
pub fn mean_cosine(learned: ArrayView2<f64>, truth: ArrayView2<f64>) -> Result<f64> {
    check_pair(learned, truth, "mean_cosine")?;
    let total: f64 = learned
        .outer_iter()
        .zip(truth.outer_iter())
        .map(|(a, b)| {
            let norm = (a.dot(&a) * b.dot(&b)).sqrt();
            if norm > 0.0 {
                a.dot(&b) / norm
            } else {
                0.0
            }
        })
        .sum();
    Ok(total / learned.nrows() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn random_field(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| rng.sample(StandardNormal))
    }

    /// The four corners (±1, ±1): mean 0, covariance I (1/n), so Var = tr Σ = 2.
    fn corners() -> Array2<f64> {
        array![[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
    }

    #[test]
    fn identical_fields_give_zero() {
        let f = random_field(50, 2, 1);
        assert_eq!(l2_uvp(f.view(), f.view(), 0.01, corners().view()).unwrap(), 0.0);
        assert_eq!(relative_l2_error(f.view(), f.view()).unwrap(), 0.0);
    }

    #[test]
    fn constant_offset_exact_value() {
        // learned = truth + c, c = (3, 4): mean ‖τc‖² = 25τ²; Var(reference) = 2.
        let truth = random_field(40, 2, 2);
        let learned = &truth + &array![3.0, 4.0];
        let tau = 0.5;
        let got = l2_uvp(learned.view(), truth.view(), tau, corners().view()).unwrap();
        assert!((got - 100.0 * 25.0 * 0.25 / 2.0).abs() < 1e-10, "{got}");
        // Relative error against truth ≡ (1, 0): 25 / 1.
        let ones = Array2::from_shape_fn((40, 2), |(_, j)| if j == 0 { 1.0 } else { 0.0 });
        let got = relative_l2_error((&ones + &array![3.0, 4.0]).view(), ones.view()).unwrap();
        assert!((got - 25.0).abs() < 1e-12, "{got}");
    }

    #[test]
    fn scaling_laws() {
        let truth = random_field(60, 3, 3);
        let learned = random_field(60, 3, 4);
        let reference = random_field(80, 3, 5);
        let base = l2_uvp(learned.view(), truth.view(), 0.01, reference.view()).unwrap();
        // Quadratic in τ.
        let doubled = l2_uvp(learned.view(), truth.view(), 0.02, reference.view()).unwrap();
        assert!((doubled - 4.0 * base).abs() < 1e-12 * doubled, "{doubled} vs 4·{base}");
        // Inverse quadratic in the reference's spread, independent of its location.
        let wider = (&reference * 3.0) + &array![5.0, -1.0, 2.0];
        let got = l2_uvp(learned.view(), truth.view(), 0.01, wider.view()).unwrap();
        assert!((got - base / 9.0).abs() < 1e-10 * base, "{got} vs {base}/9");
        // Relative error: invariant to a common scale, and equal to UVP · Var / (100 τ² mean‖truth‖²).
        let r1 = relative_l2_error(learned.view(), truth.view()).unwrap();
        let r2 = relative_l2_error((&learned * 7.0).view(), (&truth * 7.0).view()).unwrap();
        assert!((r1 - r2).abs() < 1e-12 * r1);
        let (_, cov) = mean_and_covariance(reference.view()).unwrap();
        let truth_norm = truth.mapv(|v| v * v).sum() / 60.0;
        let via_uvp = base * cov.diag().sum() / (100.0 * 0.01 * 0.01 * truth_norm);
        assert!((via_uvp - r1).abs() < 1e-10 * r1, "{via_uvp} vs {r1}");
    }

    #[test]
    fn bad_input_is_rejected() {
        let f = random_field(10, 2, 6);
        let r = corners();
        assert!(l2_uvp(f.view(), random_field(9, 2, 7).view(), 0.1, r.view()).is_err(), "n mismatch");
        assert!(l2_uvp(f.view(), random_field(10, 3, 8).view(), 0.1, r.view()).is_err(), "d mismatch");
        assert!(l2_uvp(f.view(), f.view(), 0.1, random_field(5, 3, 9).view()).is_err(), "reference d");
        for tau in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(l2_uvp(f.view(), f.view(), tau, r.view()).is_err(), "τ = {tau}");
        }
        assert!(l2_uvp(f.view(), f.view(), 0.1, Array2::<f64>::ones((4, 2)).view()).is_err(), "Var = 0");
        assert!(l2_uvp(f.view(), f.view(), 0.1, Array2::<f64>::zeros((0, 2)).view()).is_err(), "empty reference");
        let mut bad = f.clone();
        bad[[2, 0]] = f64::NAN;
        assert!(l2_uvp(bad.view(), f.view(), 0.1, r.view()).is_err(), "NaN field");
        assert!(relative_l2_error(f.view(), bad.view()).is_err(), "NaN truth");
        assert!(relative_l2_error(f.view(), Array2::<f64>::zeros((10, 2)).view()).is_err(), "zero truth");
        assert!(relative_l2_error(Array2::<f64>::zeros((0, 2)).view(), Array2::<f64>::zeros((0, 2)).view()).is_err());
    }

    #[test]
    fn mean_cosine_sees_direction_not_length() {
        let truth = array![[1.0, 0.0], [0.0, 2.0]];
        assert!((mean_cosine((&truth * 5.0).view(), truth.view()).unwrap() - 1.0).abs() < 1e-12);
        assert!((mean_cosine((&truth * -0.01).view(), truth.view()).unwrap() + 1.0).abs() < 1e-12);
        let rotated = array![[0.0, 1.0], [-2.0, 0.0]];
        assert!(mean_cosine(rotated.view(), truth.view()).unwrap().abs() < 1e-12);
    }
}

//! Small dense linear algebra in f64 on ndarray, through ndarray-linalg's LAPACK (the system
//! OpenBLAS, linked statically: see `.cargo/config.toml`): the symmetric eigen-decomposition
//! (`dsyev`), the square root of a positive semidefinite matrix, minimum-norm least squares from the
//! SVD (`dgesvd`), and sample means and covariances. The helpers add what the callers rely on:
//! input checks (square, finite, symmetric), exact symmetrisation, clamping of round-off negative
//! eigenvalues of PSD matrices, and numpy's `rcond` cut-off for least squares.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use ndarray_linalg::{EigValsh, Eigh, SVD, UPLO};

/// Relative asymmetry |a_ij − a_ji| / max|a| above which an input is rejected as non-symmetric.
const SYMMETRY_TOL: f64 = 1e-8;

/// Relative size (to the largest |eigenvalue|) a negative eigenvalue may have and still count as
/// round-off of a positive semidefinite matrix, to be clamped to 0.
const PSD_NEGATIVE_TOL: f64 = 1e-9;

fn check_finite_matrix(a: ArrayView2<f64>, what: &str) -> Result<()> {
    if a.nrows() == 0 || a.ncols() == 0 {
        return Err(Error::invalid_argument(format!("{what}: matrix is empty ({}×{})", a.nrows(), a.ncols())));
    }
    if let Some(((i, j), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_argument(format!("{what}: entry ({i}, {j}) is not finite ({v})")));
    }
    Ok(())
}

fn lapack_failed(what: &str, e: ndarray_linalg::error::LinalgError) -> Error {
    Error::numerical(format!("{what}: LAPACK failed ({e})"))
}

/// The exactly symmetrised copy ½(a + aᵀ) of a square, finite, symmetric (up to round-off) matrix,
/// so that tolerated asymmetry does not depend on which triangle LAPACK reads.
fn symmetrised(a: ArrayView2<f64>, what: &str) -> Result<Array2<f64>> {
    let n = a.nrows();
    if n != a.ncols() {
        return Err(Error::invalid_argument(format!("{what}: matrix is not square ({}×{})", a.nrows(), a.ncols())));
    }
    check_finite_matrix(a, what)?;
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..n {
        for j in (i + 1)..n {
            if (a[[i, j]] - a[[j, i]]).abs() > SYMMETRY_TOL * scale {
                return Err(Error::invalid_argument(format!(
                    "{what}: matrix is not symmetric: a[{i},{j}] = {} but a[{j},{i}] = {}",
                    a[[i, j]],
                    a[[j, i]]
                )));
            }
        }
    }
    Ok(Array2::from_shape_fn((n, n), |(i, j)| 0.5 * (a[[i, j]] + a[[j, i]])))
}

/// Eigen-decomposition of a real symmetric matrix: the eigenvalues in ascending order and the
/// orthogonal matrix whose columns are the matching eigenvectors, so that `a = Q diag(λ) Qᵀ`.
pub fn symmetric_eigen(a: ArrayView2<f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    const WHAT: &str = "symmetric_eigen";
    symmetrised(a, WHAT)?.eigh(UPLO::Lower).map_err(|e| lapack_failed(WHAT, e))
}

/// The eigenvalues of a PSD matrix as its square root needs them: a clearly negative eigenvalue
/// (below −1e-9 · max|λ|) is an error, and those within LAPACK's absolute accuracy of 0
/// (|λ| ≤ n·ε·max|λ|, round-off of a backward-stable solver) are set to 0: their square roots,
/// ~√(n·ε·‖a‖), would otherwise put noise into the null space of a rank-deficient matrix.
fn clamp_psd(eigenvalues: &mut Array1<f64>, what: &str) -> Result<()> {
    let largest = eigenvalues.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let zero = eigenvalues.len() as f64 * f64::EPSILON * largest;
    for lambda in eigenvalues.iter_mut() {
        if *lambda < -PSD_NEGATIVE_TOL * largest {
            return Err(Error::invalid_argument(format!(
                "{what}: matrix is not positive semidefinite (eigenvalue {lambda:e}, largest |eigenvalue| {largest:e})"
            )));
        }
        if *lambda <= zero {
            *lambda = 0.0;
        }
    }
    Ok(())
}

/// The symmetric PSD square root `S` (with `S·S = a`) of a symmetric positive semidefinite matrix;
/// tiny negative eigenvalues from round-off (down to −1e-9 · max|λ|) are clamped to 0, and so are
/// eigenvalues below LAPACK's accuracy (n·ε·max|λ|).
pub fn sqrtm_psd(a: ArrayView2<f64>) -> Result<Array2<f64>> {
    const WHAT: &str = "sqrtm_psd";
    let (mut eigenvalues, q) = symmetric_eigen(a).map_err(|e| e.context(WHAT))?;
    clamp_psd(&mut eigenvalues, WHAT)?;
    // Q · diag(√λ) · Qᵀ, then exactly symmetric.
    let s = (&q * &eigenvalues.mapv(f64::sqrt)).dot(&q.t());
    Ok((&s + &s.t()) * 0.5)
}

/// The trace of the PSD square root, Σ √λᵢ, of a symmetric positive semidefinite matrix (same
/// clamping as [`sqrtm_psd`]).
pub fn trace_sqrtm_psd(a: ArrayView2<f64>) -> Result<f64> {
    const WHAT: &str = "trace_sqrtm_psd";
    let mut eigenvalues = symmetrised(a, WHAT)?.eigvalsh(UPLO::Lower).map_err(|e| lapack_failed(WHAT, e))?;
    clamp_psd(&mut eigenvalues, WHAT)?;
    Ok(eigenvalues.iter().map(|v| v.sqrt()).sum())
}

/// Singular values of `a` (any shape), in descending order.
pub fn singular_values(a: ArrayView2<f64>) -> Result<Array1<f64>> {
    const WHAT: &str = "singular_values";
    check_finite_matrix(a, WHAT)?;
    let (_, sigma, _) = a.svd(false, false).map_err(|e| lapack_failed(WHAT, e))?;
    Ok(sigma)
}

/// Minimum-norm least-squares solution of `a·x ≈ b` (like numpy's `lstsq`): singular values at or
/// below `rcond · σ_max` are treated as zero, so rank-deficient and under-determined systems get
/// the solution of smallest Euclidean norm.
pub fn lstsq_min_norm(a: ArrayView2<f64>, b: ArrayView1<f64>, rcond: f64) -> Result<Array1<f64>> {
    const WHAT: &str = "lstsq_min_norm";
    check_finite_matrix(a, WHAT)?;
    if b.len() != a.nrows() {
        return Err(Error::invalid_argument(format!(
            "{WHAT}: right-hand side has length {} but the matrix has {} rows",
            b.len(),
            a.nrows()
        )));
    }
    if let Some((i, v)) = b.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_argument(format!("{WHAT}: right-hand side entry {i} is not finite ({v})")));
    }
    if !(rcond.is_finite() && rcond >= 0.0) {
        return Err(Error::invalid_argument(format!("{WHAT}: rcond must be finite and ≥ 0, got {rcond}")));
    }
    let (u, sigma, vt) = a.svd(true, true).map_err(|e| lapack_failed(WHAT, e))?;
    let (u, vt) = u.zip(vt).ok_or_else(|| Error::internal(format!("{WHAT}: the SVD returned no singular vectors")))?;
    let mut x = Array1::<f64>::zeros(a.ncols());
    let cutoff = rcond * sigma.iter().fold(0.0f64, |m, &s| m.max(s));
    // x = Σ_{σ_i > cutoff} (u_iᵀ b / σ_i) v_i; nothing when a = 0.
    for (i, &s) in sigma.iter().enumerate() {
        if s > cutoff {
            x.scaled_add(u.column(i).dot(&b) / s, &vt.row(i));
        }
    }
    Ok(x)
}

/// Sample mean and covariance of the rows of `x` (n samples × d), with the 1/n (maximum-likelihood)
/// normalisation; the covariance is exactly symmetric.
pub fn mean_and_covariance(x: ArrayView2<f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    check_finite_matrix(x, "mean_and_covariance")?;
    let (n, d) = x.dim();
    let mean = x.sum_axis(Axis(0)) / n as f64;
    let centred = &x - &mean.view().insert_axis(Axis(0));
    let mut cov = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in i..d {
            let v = centred.column(i).dot(&centred.column(j)) / n as f64;
            cov[[i, j]] = v;
            cov[[j, i]] = v;
        }
    }
    Ok((mean, cov))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| rng.sample(StandardNormal))
    }

    fn random_symmetric(n: usize, seed: u64) -> Array2<f64> {
        let g = random_matrix(n, n, seed);
        (&g + &g.t()) * 0.5
    }

    fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        a.iter().zip(b.iter()).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    #[test]
    fn eigen_reconstructs_random_symmetric_matrices() {
        for (n, seed) in [(1, 1), (2, 2), (3, 3), (7, 4), (20, 5), (60, 6)] {
            let a = random_symmetric(n, seed);
            let (lambda, q) = symmetric_eigen(a.view()).unwrap();
            let rebuilt = q.dot(&Array2::from_diag(&lambda)).dot(&q.t());
            assert!(max_abs_diff(&rebuilt, &a) < 1e-10, "n = {n}: A ≠ QΛQᵀ");
            let gram = q.t().dot(&q);
            assert!(max_abs_diff(&gram, &Array2::eye(n)) < 1e-10, "n = {n}: QᵀQ ≠ I");
            assert!(lambda.windows(2).into_iter().all(|w| w[0] <= w[1]), "not ascending");
            // The trace is the sum of the eigenvalues.
            assert!((lambda.sum() - a.diag().sum()).abs() < 1e-10);
        }
    }

    #[test]
    fn eigen_known_values() {
        let a = array![[2.0, 1.0], [1.0, 2.0]];
        let (lambda, q) = symmetric_eigen(a.view()).unwrap();
        assert!((lambda[0] - 1.0).abs() < 1e-14 && (lambda[1] - 3.0).abs() < 1e-14);
        // Eigenvector of 3 is (1, 1)/√2 up to sign.
        assert!((q[[0, 1]].abs() - 0.5f64.sqrt()).abs() < 1e-14);
        assert!((q[[0, 1]] - q[[1, 1]]).abs() < 1e-14);
        // Repeated eigenvalues and a zero matrix.
        let (lambda, _) = symmetric_eigen(Array2::<f64>::eye(4).view()).unwrap();
        assert!(lambda.iter().all(|&v| v == 1.0));
        let (lambda, q) = symmetric_eigen(Array2::<f64>::zeros((3, 3)).view()).unwrap();
        assert!(lambda.iter().all(|&v| v == 0.0) && q == Array2::<f64>::eye(3));
    }

    #[test]
    fn eigen_rejects_bad_input() {
        assert!(symmetric_eigen(Array2::<f64>::zeros((2, 3)).view()).is_err());
        assert!(symmetric_eigen(Array2::<f64>::zeros((0, 0)).view()).is_err());
        assert!(symmetric_eigen(array![[1.0, 2.0], [0.0, 1.0]].view()).is_err());
        assert!(symmetric_eigen(array![[1.0, f64::NAN], [f64::NAN, 1.0]].view()).is_err());
        assert!(symmetric_eigen(array![[f64::INFINITY]].view()).is_err());
    }

    #[test]
    fn sqrtm_squares_back_and_clamps_round_off() {
        for (n, seed) in [(1, 10), (5, 11), (30, 12)] {
            let g = random_matrix(n, n + 3, seed);
            let a = g.dot(&g.t());
            let s = sqrtm_psd(a.view()).unwrap();
            assert!(max_abs_diff(&s.dot(&s), &a) < 1e-9 * (1.0 + a.diag().sum()));
            assert!(max_abs_diff(&s, &s.t().to_owned()) == 0.0);
            // tr √A = Σ √λ agrees with the trace of the computed root.
            let tr = trace_sqrtm_psd(a.view()).unwrap();
            assert!((tr - s.diag().sum()).abs() < 1e-10 * (1.0 + tr));
        }
        // Rank one: vvᵀ has root vvᵀ/‖v‖, and its zero eigenvalues come out of LAPACK as ±round-off.
        let v = array![1.0, 2.0, -3.0];
        let outer = Array2::from_shape_fn((3, 3), |(i, j)| v[i] * v[j]);
        let s = sqrtm_psd(outer.view()).unwrap();
        assert!(max_abs_diff(&s, &(&outer / 14f64.sqrt())) < 1e-12);
        // Clearly indefinite input is rejected.
        assert!(sqrtm_psd(array![[1.0, 0.0], [0.0, -0.5]].view()).is_err());
    }

    #[test]
    fn lstsq_matches_closed_forms() {
        // Over-determined, full rank: the normal equations' solution (solved here by Cramer's rule, 2×2).
        let a = random_matrix(8, 2, 20);
        let b = Array1::from_iter(random_matrix(8, 1, 21).iter().copied());
        let x = lstsq_min_norm(a.view(), b.view(), 1e-12).unwrap();
        let ata = a.t().dot(&a);
        let atb = a.t().dot(&b);
        let det = ata[[0, 0]] * ata[[1, 1]] - ata[[0, 1]] * ata[[1, 0]];
        let x0 = (atb[0] * ata[[1, 1]] - ata[[0, 1]] * atb[1]) / det;
        let x1 = (ata[[0, 0]] * atb[1] - ata[[1, 0]] * atb[0]) / det;
        assert!((x[0] - x0).abs() < 1e-12 && (x[1] - x1).abs() < 1e-12);

        // Under-determined single equation aᵀx = β: minimum-norm solution a·β/‖a‖².
        let row = array![[1.0, 2.0, 2.0]];
        let x = lstsq_min_norm(row.view(), array![9.0].view(), 1e-6).unwrap();
        assert!((&x - &array![1.0, 2.0, 2.0]).iter().all(|v| v.abs() < 1e-14));

        // Rank deficient (duplicated column): the weight is split equally between the copies.
        let dup = array![[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
        let x = lstsq_min_norm(dup.view(), array![2.0, 4.0, 6.0].view(), 1e-6).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-13 && (x[1] - 1.0).abs() < 1e-13);

        // rcond drops a direction whose singular value is below the cutoff.
        let nearly = array![[1.0, 0.0], [0.0, 1e-9]];
        let x = lstsq_min_norm(nearly.view(), array![1.0, 1.0].view(), 1e-6).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-15 && x[1] == 0.0);
        let x = lstsq_min_norm(nearly.view(), array![1.0, 1.0].view(), 1e-12).unwrap();
        assert!((x[1] - 1e9).abs() < 1e-3);

        let sigma = singular_values(array![[3.0, 0.0], [0.0, -4.0], [0.0, 0.0]].view()).unwrap();
        assert!((sigma[0] - 4.0).abs() < 1e-15 && (sigma[1] - 3.0).abs() < 1e-15);

        assert!(lstsq_min_norm(dup.view(), array![1.0, 2.0].view(), 1e-6).is_err());
        assert!(lstsq_min_norm(dup.view(), array![1.0, 2.0, f64::NAN].view(), 1e-6).is_err());
        assert!(lstsq_min_norm(dup.view(), array![1.0, 2.0, 3.0].view(), -1.0).is_err());
    }

    #[test]
    fn covariance_uses_one_over_n() {
        let x = array![[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]];
        let (mean, cov) = mean_and_covariance(x.view()).unwrap();
        assert_eq!(mean, array![2.0, 2.0]);
        // Centred rows: (−2, −1), (0, −1), (2, 2).
        let expected = array![[8.0 / 3.0, 2.0], [2.0, 2.0]];
        assert!(max_abs_diff(&cov, &expected) < 1e-15);
        assert!(mean_and_covariance(Array2::<f64>::zeros((0, 2)).view()).is_err());
        assert!(mean_and_covariance(array![[f64::NAN]].view()).is_err());
    }
}

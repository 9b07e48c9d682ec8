//! Gaussian-mixture density of a snapshot, for the internal-energy term ∇ρ/ρ = ∇log ρ (spec §2.4):
//! full covariances with 1e-6 added to the diagonal, seeded k-means++ then Lloyd initialisation,
//! EM in f64 until the mean log-likelihood changes by less than 1e-3 (at most 100 iterations), as
//! scikit-learn's defaults. ∇log ρ is evaluated through responsibilities (log-sum-exp), which is
//! stable where ρ itself underflows; the reference instead clips ρ at 1e-5.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const REG_COVAR: f64 = 1e-6;
const TOL: f64 = 1e-3;
const MAX_ITER: usize = 100;

/// A fitted mixture: weights, means and the Cholesky factors of the covariances.
#[derive(Debug, Clone)]
pub struct Gmm {
    log_weights: Vec<f64>,
    means: Vec<Array1<f64>>,
    /// Lower-triangular L with Σ = L Lᵀ.
    chol: Vec<Array2<f64>>,
}

fn cholesky(a: &Array2<f64>) -> Result<Array2<f64>> {
    let d = a.nrows();
    let mut l = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let v = a[[i, i]] - s;
                if !(v > 0.0 && v.is_finite()) {
                    return Err(Error::numerical("GMM: a covariance matrix is not positive definite"));
                }
                l[[i, j]] = v.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    Ok(l)
}

/// Solve L z = v (forward substitution).
fn forward(l: &Array2<f64>, v: &[f64], z: &mut [f64]) {
    for i in 0..v.len() {
        let s: f64 = (0..i).map(|k| l[[i, k]] * z[k]).sum();
        z[i] = (v[i] - s) / l[[i, i]];
    }
}

/// Solve Lᵀ w = z (backward substitution).
fn backward(l: &Array2<f64>, z: &[f64], w: &mut [f64]) {
    let d = z.len();
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|k| l[[k, i]] * w[k]).sum();
        w[i] = (z[i] - s) / l[[i, i]];
    }
}

fn sq_dist(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl Gmm {
    /// Fit K components to the rows of `x` (seeded). Needs at least K points.
    pub fn fit(x: ArrayView2<f64>, k: usize, seed: u64) -> Result<Gmm> {
        let n = x.nrows();
        if k == 0 || n < k.max(2) {
            return Err(Error::invalid_data(format!(
                "a {k}-component Gaussian mixture needs at least {} points, the snapshot has {n} \
                 (lower star_gmm_components)",
                k.max(2)
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // k-means++ seeding, then Lloyd iterations: hard responsibilities to start EM from.
        let mut centres = vec![x.row(rng.random_range(0..n)).to_owned()];
        let mut dist: Vec<f64> = (0..n).map(|i| sq_dist(x.row(i), centres[0].view())).collect();
        while centres.len() < k {
            let total: f64 = dist.iter().sum();
            let pick = if total > 0.0 {
                let mut r = rng.random_range(0.0..total);
                dist.iter()
                    .position(|&w| {
                        r -= w;
                        r < 0.0
                    })
                    .unwrap_or(n - 1)
            } else {
                rng.random_range(0..n)
            };
            centres.push(x.row(pick).to_owned());
            let c = centres.last().expect("just pushed").view();
            for (i, di) in dist.iter_mut().enumerate() {
                *di = di.min(sq_dist(x.row(i), c));
            }
        }
        let mut label = vec![0usize; n];
        for _ in 0..20 {
            for (i, l) in label.iter_mut().enumerate() {
                *l = (0..k)
                    .min_by(|&a, &b| {
                        sq_dist(x.row(i), centres[a].view()).total_cmp(&sq_dist(x.row(i), centres[b].view()))
                    })
                    .expect("k ≥ 1");
            }
            for (c, centre) in centres.iter_mut().enumerate() {
                let members: Vec<usize> = (0..n).filter(|&i| label[i] == c).collect();
                if !members.is_empty() {
                    *centre = x.select(Axis(0), &members).mean_axis(Axis(0)).expect("non-empty");
                }
            }
        }
        let mut resp = Array2::<f64>::zeros((n, k));
        for (i, &l) in label.iter().enumerate() {
            resp[[i, l]] = 1.0;
        }
        let mut gmm = Gmm::m_step(x, &resp)?;
        let mut last = f64::NEG_INFINITY;
        for _ in 0..MAX_ITER {
            let (ll, r) = gmm.e_step(x);
            gmm = Gmm::m_step(x, &r)?;
            if (ll - last).abs() < TOL {
                break;
            }
            last = ll;
        }
        Ok(gmm)
    }

    fn m_step(x: ArrayView2<f64>, resp: &Array2<f64>) -> Result<Gmm> {
        let (n, d) = x.dim();
        let k = resp.ncols();
        let mut log_weights = Vec::with_capacity(k);
        let mut means = Vec::with_capacity(k);
        let mut chol = Vec::with_capacity(k);
        for c in 0..k {
            let r = resp.column(c);
            let nk = r.sum() + 10.0 * f64::EPSILON;
            let mean = r.dot(&x) / nk;
            let mut cov = Array2::<f64>::eye(d) * REG_COVAR;
            for i in 0..n {
                if r[i] == 0.0 {
                    continue;
                }
                let diff = &x.row(i) - &mean;
                for a in 0..d {
                    for b in 0..=a {
                        cov[[a, b]] += r[i] * diff[a] * diff[b] / nk;
                    }
                }
            }
            for a in 0..d {
                for b in 0..a {
                    cov[[b, a]] = cov[[a, b]];
                }
            }
            log_weights.push((nk / n as f64).ln());
            means.push(mean);
            chol.push(cholesky(&cov)?);
        }
        Ok(Gmm { log_weights, means, chol })
    }

    /// Per point and component: log w_c + log N(x | m_c, Σ_c), plus the whitened residuals' inverse
    /// covariance products when `grad` is set.
    fn log_joint(&self, x: ArrayView1<f64>, out: &mut [f64]) {
        let d = x.len();
        let mut z = vec![0.0; d];
        let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        for (c, o) in out.iter_mut().enumerate() {
            let diff: Vec<f64> = x.iter().zip(&self.means[c]).map(|(a, b)| a - b).collect();
            forward(&self.chol[c], &diff, &mut z);
            let log_det: f64 = (0..d).map(|i| self.chol[c][[i, i]].ln()).sum();
            *o = self.log_weights[c] - d as f64 * half_log_2pi - log_det - 0.5 * z.iter().map(|v| v * v).sum::<f64>();
        }
    }

    fn e_step(&self, x: ArrayView2<f64>) -> (f64, Array2<f64>) {
        let (n, k) = (x.nrows(), self.means.len());
        let mut resp = Array2::<f64>::zeros((n, k));
        let mut total = 0.0;
        let mut lj = vec![0.0; k];
        for i in 0..n {
            self.log_joint(x.row(i), &mut lj);
            let lse = log_sum_exp(&lj);
            total += lse;
            for c in 0..k {
                resp[[i, c]] = (lj[c] - lse).exp();
            }
        }
        (total / n as f64, resp)
    }

    /// log ρ at each row.
    pub fn log_density(&self, x: ArrayView2<f64>) -> Array1<f64> {
        let mut lj = vec![0.0; self.means.len()];
        x.rows()
            .into_iter()
            .map(|row| {
                self.log_joint(row, &mut lj);
                log_sum_exp(&lj)
            })
            .collect()
    }

    /// ∇log ρ = Σ_c r_c(x) Σ_c⁻¹(m_c − x) at each row (n × d).
    pub fn grad_log_density(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let (n, d) = x.dim();
        let k = self.means.len();
        let mut out = Array2::<f64>::zeros((n, d));
        let mut lj = vec![0.0; k];
        let (mut z, mut w) = (vec![0.0; d], vec![0.0; d]);
        for i in 0..n {
            self.log_joint(x.row(i), &mut lj);
            let lse = log_sum_exp(&lj);
            for (c, &l) in lj.iter().enumerate() {
                let r = (l - lse).exp();
                if r < 1e-300 {
                    continue;
                }
                let diff: Vec<f64> = self.means[c].iter().zip(x.row(i)).map(|(m, v)| m - v).collect();
                forward(&self.chol[c], &diff, &mut z);
                backward(&self.chol[c], &z, &mut w);
                for a in 0..d {
                    out[[i, a]] += r * w[a];
                }
            }
        }
        out
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn one_component_score_is_the_fitted_gaussian_score() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // x = A z + m with A = [[2, 0], [1, 0.5]]: covariance [[4, 2], [2, 1.25]].
        let x: Array2<f64> = Array2::from_shape_fn((4000, 2), |_| StandardNormal.sample(&mut rng));
        let x = Array2::from_shape_fn((4000, 2), |(i, j)| {
            if j == 0 {
                2.0 * x[[i, 0]] + 1.0
            } else {
                x[[i, 0]] + 0.5 * x[[i, 1]] - 2.0
            }
        });
        let gmm = Gmm::fit(x.view(), 1, 0).unwrap();
        let p = ndarray::array![[0.0, 0.0], [3.0, -1.0]];
        let g = gmm.grad_log_density(p.view());
        // −Σ⁻¹(p − m) with the true parameters (sampling error is a few %).
        let inv = [[1.25 / 1.0, -2.0 / 1.0], [-2.0 / 1.0, 4.0 / 1.0]]; // Σ⁻¹ = adj/det, det = 1
        for (r, row) in p.rows().into_iter().enumerate() {
            let d = [row[0] - 1.0, row[1] + 2.0];
            for a in 0..2 {
                let truth = -(inv[a][0] * d[0] + inv[a][1] * d[1]);
                assert!((g[[r, a]] - truth).abs() < 0.1 * truth.abs().max(1.0), "{r},{a}: {} vs {truth}", g[[r, a]]);
            }
        }
        // The score is the gradient of the log density (finite differences).
        let h = 1e-5;
        let lp = |a: f64, b: f64| gmm.log_density(ndarray::array![[a, b]].view())[0];
        let fd = (lp(3.0 + h, -1.0) - lp(3.0 - h, -1.0)) / (2.0 * h);
        assert!((fd - g[[1, 0]]).abs() < 1e-5, "{fd} vs {}", g[[1, 0]]);
    }

    #[test]
    fn too_few_points_for_the_components_is_an_error() {
        let x = Array2::from_shape_fn((5, 2), |(i, j)| (i * 2 + j) as f64);
        let e = Gmm::fit(x.view(), 10, 0).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidData);
        assert!(e.message().contains("star_gmm_components"), "{e}");
    }
}

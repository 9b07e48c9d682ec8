//! JKOnet*_l: the energy is linear in fixed features, V = θ₁ᵀφ, W = θ₂ᵀφ (symmetrised), θ₃ = |θ₃|,
//! and the optimality residual is linear in θ, so the fit is one ridge-regularised least-squares
//! solve in f64 (spec §4.3).
//!
//! Features φ: tensor-degree monomials Π u_k^{e_k} (e ∈ {0..D}^d, e ≠ 0) plus a grid of Gaussian
//! RBFs exp(−‖u − c‖²/σ), c ∈ linspace(−4, 4, n)^d, in coordinates u that map the training data's
//! bounding box onto [−4, 4]^d. The reference fixes the domain to [−4, 4]^d in raw coordinates; the
//! data's box makes the same features fit data of any scale (on data filling [−4, 4]^d they are
//! the reference's features), and it is stored with the model (variables `linear.lo`,
//! `linear.hi`). The interaction kernel is evaluated at differences x − y, so its features use the
//! box of differences, centred at 0.

use crate::error::{Error, Result};
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Feature counts above this are refused: the normal matrix is (2F+1)² and the tensor-degree
/// monomials grow as (D+1)^d, so a large count means d is too big for this parametrisation.
pub const MAX_FEATURES: usize = 20_000;

/// Shape of the feature map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureSpec {
    /// Polynomial degree D per coordinate (0: no monomials).
    pub degree: usize,
    /// RBF centres per dimension (0: no RBFs).
    pub centres: usize,
    /// RBF width σ (on the box rescaled to [−4, 4]^d).
    pub sigma: f64,
}

impl FeatureSpec {
    /// Number of features F for dimension d, or an error when it explodes.
    pub fn count(&self, dim: usize) -> Result<usize> {
        let pow = |b: usize| -> Option<usize> { (0..dim).try_fold(1usize, |acc, _| acc.checked_mul(b)) };
        let poly = if self.degree == 0 { Some(0) } else { pow(self.degree + 1).map(|p| p - 1) };
        let rbf = if self.centres == 0 { Some(0) } else { pow(self.centres) };
        let total = poly.zip(rbf).and_then(|(a, b)| a.checked_add(b));
        match total {
            Some(0) => Err(Error::invalid_argument(
                "linear JKOnet*: no features (star_poly_degree and star_rbf_centres are both 0)",
            )),
            Some(f) if f <= MAX_FEATURES => Ok(f),
            _ => Err(Error::invalid_argument(format!(
                "linear JKOnet*: {}^{dim} − 1 monomials plus {}^{dim} RBFs exceed {MAX_FEATURES} features in \
                 dimension {dim}; lower star_poly_degree / star_rbf_centres, or use the MLP method jkonet_star",
                self.degree + 1,
                self.centres
            ))),
        }
    }
}

/// The linear energy's parameters, held as variables of the energy's store so that save/load and
/// every query work as for the MLP energy. All tensors are f64.
#[derive(Debug)]
pub struct LinearEnergy {
    pub(crate) spec: FeatureSpec,
    dim: usize,
    pub(crate) theta_v: Option<Tensor>,
    pub(crate) theta_w: Option<Tensor>,
    pub(crate) theta3: Option<Tensor>,
    lo: Tensor,
    hi: Tensor,
}

impl LinearEnergy {
    /// Zero coefficients and the box [−4, 4]^d (replaced by [`LinearEnergy::set_box`] before fitting).
    pub fn new(
        p: &nn::Path,
        spec: FeatureSpec,
        dim: usize,
        potential: bool,
        interaction: bool,
        internal: bool,
    ) -> Result<LinearEnergy> {
        let f = spec.count(dim)? as i64;
        let opts = (Kind::Double, Device::Cpu);
        let var = |name: &str, t: Tensor| p.var_copy(name, &t.to_kind(Kind::Double));
        Ok(LinearEnergy {
            spec,
            dim,
            theta_v: potential.then(|| var("theta_v", Tensor::zeros([f], opts))),
            theta_w: interaction.then(|| var("theta_w", Tensor::zeros([f], opts))),
            theta3: internal.then(|| var("theta3", Tensor::zeros([1], opts))),
            lo: var("lo", Tensor::full([dim as i64], -4.0, opts)),
            hi: var("hi", Tensor::full([dim as i64], 4.0, opts)),
        })
    }

    /// A second handle on the same parameters (tensors shared, not copied): a trainer that fits
    /// them keeps one while the model owns the energy.
    pub(crate) fn handle(&self) -> LinearEnergy {
        LinearEnergy {
            spec: self.spec,
            dim: self.dim,
            theta_v: self.theta_v.as_ref().map(Tensor::shallow_clone),
            theta_w: self.theta_w.as_ref().map(Tensor::shallow_clone),
            theta3: self.theta3.as_ref().map(Tensor::shallow_clone),
            lo: self.lo.shallow_clone(),
            hi: self.hi.shallow_clone(),
        }
    }

    pub fn features_count(&self) -> usize {
        self.spec.count(self.dim).expect("checked at construction")
    }

    /// Use the bounding box [lo, hi] (per coordinate) for the features; degenerate coordinates
    /// get a unit half width.
    pub fn set_box(&self, lo: &[f64], hi: &[f64]) {
        let (mut l, mut h) = (lo.to_vec(), hi.to_vec());
        for k in 0..l.len() {
            if h[k] - l[k] < 1e-12 {
                l[k] -= 1.0;
                h[k] += 1.0;
            }
        }
        tch::no_grad(|| {
            self.lo.shallow_clone().copy_(&Tensor::from_slice(&l));
            self.hi.shallow_clone().copy_(&Tensor::from_slice(&h));
        });
    }

    /// Centre c and scale s of the feature coordinates u = (x − c)/s (d each, detached): the
    /// positions' box, or for the interaction kernel (evaluated at differences x − y) the box of
    /// differences [−(hi − lo), hi − lo]; s maps the box onto [−4, 4]^d, the reference's domain.
    fn centre_scale(&self, kernel: bool) -> (Tensor, Tensor) {
        let lo = self.lo.detach().to_kind(Kind::Double);
        let hi = self.hi.detach().to_kind(Kind::Double);
        if kernel {
            ((&lo * 0.0), (hi - lo) / 4.0)
        } else {
            ((&lo + &hi) * 0.5, (hi - lo) / 8.0)
        }
    }

    /// RBF centres in feature coordinates, grid linspace(−4, 4, n)^d in product order (first
    /// coordinate slowest), C × d.
    fn rbf_grid(&self, device: Device) -> Tensor {
        let n = self.spec.centres;
        let axis: Vec<f64> =
            (0..n).map(|i| if n == 1 { 0.0 } else { -4.0 + 8.0 * i as f64 / (n - 1) as f64 }).collect();
        let total = n.pow(self.dim as u32);
        let mut g = vec![0.0; total * self.dim];
        for idx in 0..total {
            let mut rem = idx;
            for k in (0..self.dim).rev() {
                g[idx * self.dim + k] = axis[rem % n];
                rem /= n;
            }
        }
        Tensor::from_slice(&g).view([total as i64, self.dim as i64]).to_device(device)
    }

    /// RBF exponent factor: exp(−‖u − c‖²/σ).
    fn rbf_gain(&self) -> f64 {
        1.0 / self.spec.sigma
    }

    /// φ(x) (n × F, f64), differentiable in x (used by the energy queries through autograd);
    /// `kernel` selects the interaction kernel's coordinates.
    pub fn features(&self, x: &Tensor, kernel: bool) -> Tensor {
        let (c, h) = self.centre_scale(kernel);
        let x = x.to_kind(Kind::Double);
        let device = x.device();
        let u = (&x - c.to_device(device)) / h.to_device(device);
        let n = u.size()[0];
        let mut parts = Vec::new();
        if self.spec.degree > 0 {
            let powers: Vec<Tensor> = (0..self.dim as i64).map(|k| self.powers(&u.select(1, k))).collect();
            parts.push(outer_products(&powers, n));
        }
        if self.spec.centres > 0 {
            let grid = self.rbf_grid(device);
            let sq =
                (u.unsqueeze(1) - grid.unsqueeze(0)).square().sum_dim_intlist([2i64].as_slice(), false, Kind::Double);
            parts.push((sq * -self.rbf_gain()).exp());
        }
        Tensor::cat(&parts, 1)
    }

    /// [u⁰, u¹, …, u^D] as columns (n × (D+1)).
    fn powers(&self, u: &Tensor) -> Tensor {
        let mut cols = vec![Tensor::ones_like(u)];
        for p in 1..=self.spec.degree {
            let next = &cols[p - 1] * u;
            cols.push(next);
        }
        Tensor::stack(&cols, 1)
    }

    /// Analytic Jacobian ∂φ/∂x (n × d × F, f64), no autograd (the closed form's regressors).
    pub fn jacobian(&self, x: &Tensor, kernel: bool) -> Tensor {
        let (c, h) = self.centre_scale(kernel);
        let x = x.detach().to_kind(Kind::Double);
        let device = x.device();
        let (c, h) = (c.to_device(device), h.to_device(device));
        let u = (&x - &c) / &h;
        let n = u.size()[0];
        let d = self.dim as i64;
        let mut blocks = Vec::new();
        if self.spec.degree > 0 {
            let powers: Vec<Tensor> = (0..d).map(|k| self.powers(&u.select(1, k))).collect();
            let per_dim: Vec<Tensor> = (0..d)
                .map(|k| {
                    // d/du of [u⁰ … u^D] is [0, 1, 2u, …, D u^{D−1}], then the chain rule 1/h_k.
                    let pk = &powers[k as usize];
                    let scale: Vec<f64> = (0..=self.spec.degree).map(|p| p as f64).collect();
                    let shifted = Tensor::cat(
                        &[Tensor::zeros([n, 1], (Kind::Double, device)), pk.narrow(1, 0, self.spec.degree as i64)],
                        1,
                    );
                    let dp = shifted * Tensor::from_slice(&scale).to_device(device) / h.get(k);
                    let mut list: Vec<Tensor> = powers.iter().map(|p| p.shallow_clone()).collect();
                    list[k as usize] = dp;
                    outer_products(&list, n)
                })
                .collect();
            blocks.push(Tensor::stack(&per_dim, 1));
        }
        if self.spec.centres > 0 {
            let grid = self.rbf_grid(device);
            let diff = u.unsqueeze(1) - grid.unsqueeze(0); // n × C × d
            let sq = diff.square().sum_dim_intlist([2i64].as_slice(), false, Kind::Double);
            let rbf = (sq * -self.rbf_gain()).exp(); // n × C
            let grad = diff * rbf.unsqueeze(2) * (-2.0 * self.rbf_gain()) / h.view([1, 1, d]);
            blocks.push(grad.permute([0, 2, 1]));
        }
        Tensor::cat(&blocks, 2)
    }

    /// V(x) = θ₁ᵀφ(x) per row, in the input's kind.
    pub fn potential(&self, x: &Tensor) -> Option<Tensor> {
        let th = self.theta_v.as_ref()?;
        Some(self.features(x, false).matmul(th).to_kind(x.kind()))
    }

    /// w(z) = θ₂ᵀφ(z) per row (unsymmetrised; the energy symmetrises).
    pub fn kernel(&self, z: &Tensor) -> Option<Tensor> {
        let th = self.theta_w.as_ref()?;
        Some(self.features(z, true).matmul(th).to_kind(z.kind()))
    }

    /// θ₃ = |θ₃ raw| (the reference's convention for the signed fitted coefficient).
    pub fn theta3(&self) -> Option<Tensor> {
        self.theta3.as_ref().map(|t| t.abs().squeeze().to_kind(Kind::Float))
    }
}

/// Row-wise outer products of per-coordinate columns, flattened in product order (first
/// coordinate slowest), dropping the all-zero-exponent column: n × ((D+1)^d − 1).
fn outer_products(columns: &[Tensor], n: i64) -> Tensor {
    let mut acc = columns[0].shallow_clone();
    for c in &columns[1..] {
        acc = (acc.unsqueeze(2) * c.unsqueeze(1)).reshape([n, -1]);
    }
    let total = acc.size()[1];
    acc.narrow(1, 1, total - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_jacobian_matches_autograd_and_counts_match() {
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = FeatureSpec { degree: 3, centres: 4, sigma: 0.5 };
        let lin = LinearEnergy::new(&vs.root(), spec, 2, true, false, false).unwrap();
        lin.set_box(&[-1.0, 0.0], &[3.0, 2.0]);
        assert_eq!(lin.features_count(), 15 + 16);
        let x = Tensor::from_slice(&[0.3f64, 1.2, -0.7, 0.1, 2.5, 1.9]).view([3, 2]);
        for kernel in [false, true] {
            let jac = lin.jacobian(&x, kernel);
            assert_eq!(jac.size(), vec![3, 2, 31]);
            let xg = x.copy().set_requires_grad(true);
            let phi = lin.features(&xg, kernel);
            for f in 0..31 {
                let col = phi.select(1, f).sum(Kind::Double);
                let g = Tensor::run_backward(&[col], &[&xg], true, false).pop().unwrap();
                let err = (&g - jac.select(2, f)).abs().max().double_value(&[]);
                assert!(err < 1e-9 * (1.0 + g.abs().max().double_value(&[])), "feature {f}: {err}");
            }
        }
    }

    #[test]
    fn feature_explosion_is_refused() {
        let spec = FeatureSpec { degree: 4, centres: 10, sigma: 0.5 };
        assert_eq!(spec.count(2).unwrap(), 124);
        let e = spec.count(6).unwrap_err();
        assert!(e.message().contains("star_poly_degree"), "{e}");
    }
}

//! Transport maps T^k: ℝ^d → ℝ^d, one per JKO step, as plain MLPs (no convexity constraint).
//! Either one shared network conditioned on the step's normalised time, or one network per step;
//! optionally residual, T(x) = x + f(x), with f started near zero so T starts near the identity.

use crate::error::{Error, Result};
use crate::nn::{Activation, Mlp};
use tch::nn::{self, Module};
use tch::{Device, Tensor};

/// How the maps are laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct MapConfig {
    /// One time-conditioned network for all steps (true) or one network per step (false).
    pub shared: bool,
    pub hidden: Vec<i64>,
    pub activation: Activation,
    /// T(x) = x + f(x) instead of T(x) = f(x).
    pub residual: bool,
}

impl Default for MapConfig {
    /// Shared, time-conditioned 2×64 selu MLP (the paper's moderate-dimension choice), residual.
    fn default() -> Self {
        MapConfig { shared: true, hidden: vec![64, 64], activation: Activation::Selu, residual: true }
    }
}

/// How log|det ∇T| is estimated for the entropy of pushed samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDetEstimator {
    /// Full d×d Jacobian per sample and slogdet: exact, O(d) backward passes.
    Exact,
    /// Residual maps only: the truncated series log det(I + J) = Σ_k (−1)^{k+1} tr(J^k)/k with
    /// Hutchinson probes (one Rademacher vector, `terms` terms); unbiased per term, O(terms) passes.
    Stochastic { terms: usize },
}

pub struct TransportMaps {
    pub(crate) vs: nn::VarStore,
    pub(crate) config: MapConfig,
    nets: Vec<Mlp>,
    dim: i64,
    steps: usize,
    /// Fixed affine base per step for residual maps, T^k(x) = A_k x + c_k + f(x): the Gaussian OT
    /// map between the training snapshots (iJKOnet's warm start). Stored, not trained: the network
    /// f learns the non-Gaussian remainder.
    affine: Option<(Tensor, Tensor)>,
}

impl TransportMaps {
    /// Fresh maps, initialised deterministically from `seed`.
    pub fn new(config: &MapConfig, dim: usize, steps: usize, device: Device, seed: u64) -> Result<TransportMaps> {
        if steps == 0 {
            return Err(Error::invalid_argument("at least one transport map is needed"));
        }
        if config.hidden.iter().any(|&h| h <= 0) {
            return Err(Error::invalid_argument(format!(
                "hidden layer sizes must be positive, got {:?}",
                config.hidden
            )));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let d = dim as i64;
        let count = if config.shared { 1 } else { steps };
        let input = if config.shared { d + 1 } else { d };
        let mut nets: Vec<Mlp> = (0..count)
            .map(|k| Mlp::new(&(&root / format!("map{k}")), input, &config.hidden, d, config.activation))
            .collect();
        crate::nn::init_linear(&vs, seed, crate::nn::WeightInit::Uniform);
        if config.residual {
            nets.iter_mut().for_each(|net| net.shrink_output(0.01));
        }
        Ok(TransportMaps { vs, config: config.clone(), nets, dim: d, steps, affine: None })
    }

    /// Add the per-step affine base (identity until set). Residual maps only.
    pub(crate) fn add_affine_base(&mut self) -> Result<()> {
        if !self.config.residual {
            return Err(Error::internal("an affine base needs residual maps"));
        }
        let (k, d) = (self.steps as i64, self.dim);
        let root = self.vs.root();
        let a = root.zeros_no_train("affine_a", &[k, d, d]);
        let c = root.zeros_no_train("affine_c", &[k, d]);
        tch::no_grad(|| {
            a.shallow_clone().copy_(&Tensor::eye(d, (a.kind(), a.device())).unsqueeze(0).expand([k, d, d], true))
        });
        self.affine = Some((a, c));
        Ok(())
    }

    /// Whether the maps have an affine base.
    pub fn has_affine_base(&self) -> bool {
        self.affine.is_some()
    }

    /// Set step k's affine base to x ↦ A x + c (A row-major d×d).
    pub(crate) fn set_affine_base(&self, k: usize, a: &[f64], c: &[f64]) -> Result<()> {
        let (at, ct) = self.affine.as_ref().ok_or_else(|| Error::internal("no affine base"))?;
        let d = self.dim;
        if k >= self.steps || a.len() as i64 != d * d || c.len() as i64 != d {
            return Err(Error::internal("affine base: wrong step or size"));
        }
        let av = Tensor::from_slice(&a.iter().map(|&v| v as f32).collect::<Vec<_>>()).view([d, d]);
        let cv = Tensor::from_slice(&c.iter().map(|&v| v as f32).collect::<Vec<_>>());
        tch::no_grad(|| {
            at.get(k as i64).copy_(&av.to_device(at.device()));
            ct.get(k as i64).copy_(&cv.to_device(ct.device()));
        });
        Ok(())
    }

    /// The base of step k applied to x: A_k x + c_k, or x without an affine base.
    fn base(&self, k: usize, x: &Tensor) -> Tensor {
        match &self.affine {
            Some((a, c)) => x.matmul(&a.get(k as i64).transpose(0, 1)) + c.get(k as i64),
            None => x.shallow_clone(),
        }
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    fn finish(&self, base: Tensor, out: Tensor) -> Tensor {
        if self.config.residual {
            base + out
        } else {
            out
        }
    }

    /// T^k(x); `t_input` is the step's time feature for a shared map (normalised time of ρ_k).
    pub fn forward(&self, k: usize, x: &Tensor, t_input: f64) -> Tensor {
        let out = if self.config.shared {
            let tt = Tensor::full([x.size()[0], 1], t_input, (x.kind(), x.device()));
            self.nets[0].forward(&Tensor::cat(&[x.shallow_clone(), tt], 1))
        } else {
            self.nets[k].forward(x)
        };
        self.finish(self.base(k, x), out)
    }

    /// All steps at once: `x` stacks one batch per step k = 0..K−1 (`sizes[k]` rows each) and
    /// `t_col` (rows × 1) holds each row's time feature. One network call for a shared map.
    pub fn forward_stacked(&self, x: &Tensor, t_col: &Tensor, sizes: &[i64]) -> Tensor {
        let out = if self.config.shared {
            self.nets[0].forward(&Tensor::cat(&[x.shallow_clone(), t_col.shallow_clone()], 1))
        } else {
            let parts: Vec<Tensor> =
                x.split_with_sizes(sizes, 0).iter().zip(&self.nets).map(|(xk, net)| net.forward(xk)).collect();
            Tensor::cat(&parts, 0)
        };
        let base = if self.affine.is_some() {
            let parts: Vec<Tensor> =
                x.split_with_sizes(sizes, 0).iter().enumerate().map(|(k, xk)| self.base(k, xk)).collect();
            Tensor::cat(&parts, 0)
        } else {
            x.shallow_clone()
        };
        self.finish(base, out)
    }

    /// (T(x), per-row log|det ∇T(x)|) for a row-wise map `apply`, differentiable in the parameters.
    /// Rows must not interact inside `apply` (true of every map here), so ∇ₓ Σ_i T_j(x_i) holds
    /// row i's Jacobian row j.
    pub fn with_logdet(
        &self,
        x: &Tensor,
        estimator: LogDetEstimator,
        probe_seed: u64,
        apply: impl Fn(&Tensor) -> Tensor,
    ) -> (Tensor, Tensor) {
        let xg = x.detach().set_requires_grad(true);
        let y = apply(&xg);
        let logdet = match estimator {
            LogDetEstimator::Exact => {
                let rows: Vec<Tensor> = (0..self.dim)
                    .map(|j| {
                        let yj = y.select(1, j).sum(y.kind());
                        Tensor::run_backward(&[yj], &[&xg], true, true).pop().expect("one input")
                    })
                    .collect();
                let jac = Tensor::stack(&rows, 1);
                let (_sign, logabs) = Tensor::linalg_slogdet(&jac);
                logabs
            }
            LogDetEstimator::Stochastic { terms } => {
                // J_f = ∇T − I: exact series for residual maps; a direct map is treated as x + (T − x).
                let f = &y - &xg;
                let v = rademacher(x.size()[0], self.dim, probe_seed).to_kind(x.kind()).to_device(x.device());
                let mut w = v.shallow_clone();
                let mut total = Tensor::zeros([x.size()[0]], (x.kind(), x.device()));
                for term in 1..=terms.max(1) {
                    // w ← wᵀ J_f (vector–Jacobian product); tr(J_f^term) ≈ (wᵀ J_f^term) · v.
                    w = Tensor::run_backward(&[(&f * &w).sum(f.kind())], &[&xg], true, true).pop().expect("one input");
                    let tr = (&w * &v).sum_dim_intlist([1i64].as_slice(), false, w.kind());
                    let sign = if term % 2 == 1 { 1.0 } else { -1.0 };
                    total += tr * (sign / term as f64);
                }
                total
            }
        };
        (y, logdet)
    }

    pub(crate) fn set_trainable(&mut self, trainable: bool) {
        if trainable {
            self.vs.unfreeze()
        } else {
            self.vs.freeze()
        }
    }
}

/// ±1 probes from a seeded stream (not libtorch's global generator, for thread-independent runs).
fn rademacher(n: i64, d: i64, seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * d).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
    Tensor::from_slice(&v).view([n, d])
}

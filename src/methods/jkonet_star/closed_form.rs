//! JKOnet*_l: the ridge closed form (spec §4.3) on the real step sizes.
//!
//! Per coupling row i of step k the residual is τ_k Y_i θ + (y_i − x_i), with the regressor
//! Y_i = [∇φ(x_i) | (1/n_k) Σ_j ∇W_φ(x_i − x_j) | ∇log ρ_{k+1}(y_i)] (d × p): potential and
//! interaction at the source x (the explicit condition, which matches Euler–Maruyama data exactly),
//! the interaction averaged over all sources of the step with the symmetrised kernel gradient
//! ½(∇φ(z) − ∇φ(−z)), the internal term at the target. Then
//! θ = −(λI + Σ w_i τ²Y_iᵀY_i)⁻¹ Σ w_i τ Y_iᵀ(y_i − x_i): one weighting on both sides (the reference
//! mixes an unweighted mean with a weighted sum, which agree only for balanced exact couplings).

use super::couplings::{self, Rows};
use crate::config::{Method, TrainConfig};
use crate::data::Snapshots;
use crate::energy::linear::LinearEnergy;
use crate::energy::Energy;
use crate::error::{Error, Result};
use crate::model::{MethodNetworks, Model, StepRule, TimeAxis};
use crate::train::{expect_method, Trainer};
use ndarray::{Array1, Array2};
use tch::{Device, Kind, Tensor};

/// JKOnet*_l's networks: a linear energy in fixed features and the SDE step rule.
/// The linear energy's size follows from its features, checked when it is built: no bound is needed.
pub(crate) const NETWORKS: MethodNetworks = MethodNetworks { build: networks, min_parameters: |_, _, _| 0 };

fn networks(config: &TrainConfig, dim: usize, _: &TimeAxis, device: Device) -> Result<(Energy, Box<dyn StepRule>)> {
    Ok(super::with_sde_rule(Energy::new_linear(&config.energy, config.star.feature_spec(), dim, device)?))
}

/// A JKOnet*_l session: the solve happens on the first step; later steps return the same loss.
pub struct LinearTrainer {
    model: Model,
    /// The model's linear energy (same parameters), which the solve writes.
    lin: LinearEnergy,
    rows: Rows,
    data: Snapshots,
    loss: Option<f64>,
    /// Seconds spent on couplings and densities.
    pub precompute_seconds: f64,
    /// Seconds spent on regressors and the solve.
    pub solve_seconds: f64,
}

fn f64_tensor(a: ndarray::ArrayView2<f64>) -> Tensor {
    let v: Vec<f64> = a.iter().copied().collect();
    Tensor::from_slice(&v).view([a.nrows() as i64, a.ncols() as i64])
}

impl LinearTrainer {
    pub fn new(config: &TrainConfig, data: &Snapshots) -> Result<LinearTrainer> {
        expect_method(config, Method::JKOnetStarLinear)?;
        let start = std::time::Instant::now();
        let model = Model::new(config, data.dim(), data.times(), NETWORKS)?;
        let d = data.dim();
        let (mut lo, mut hi) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
        for s in data.iter() {
            for row in s.points.rows() {
                for (k, &v) in row.iter().enumerate() {
                    lo[k] = lo[k].min(v);
                    hi[k] = hi[k].max(v);
                }
            }
        }
        let lin = model.energy.as_linear().ok_or_else(|| Error::internal("JKOnet*_l builds a linear energy"))?.handle();
        lin.set_box(&lo, &hi);
        let plans = couplings::compute(data, &config.star, config.seed)?;
        let densities = if config.energy.variant.internal {
            Some(couplings::target_densities(data, config.star.gmm_components, config.seed)?)
        } else {
            None
        };
        let rows = couplings::rows(data, &plans, densities.as_deref());
        Ok(LinearTrainer {
            model,
            lin,
            rows,
            data: data.clone(),
            loss: None,
            precompute_seconds: start.elapsed().as_secs_f64(),
            solve_seconds: 0.0,
        })
    }

    fn linear(&self) -> &LinearEnergy {
        &self.lin
    }

    /// Regressors of the rows of step k, already multiplied by τ_k: (rows_k × d × p).
    fn regressors(&self, k: usize, idx: &[usize]) -> Tensor {
        let lin = self.linear();
        let v = self.model.config.energy.variant;
        let tau = self.model.axis.tau(k, self.model.config.tau);
        let pick = |a: &Array2<f64>| f64_tensor(a.select(ndarray::Axis(0), idx).view());
        let mut blocks = Vec::new();
        if v.potential {
            blocks.push(lin.jacobian(&pick(&self.rows.x), false));
        }
        if v.interaction {
            let sources = f64_tensor(self.data.get(k).expect("k in range").points.view());
            let n = sources.size()[0];
            let d = sources.size()[1];
            let f = lin.features_count() as i64;
            let chunk = (4_000_000 / (n * d * f).max(1)).max(1);
            let fields: Vec<Tensor> = sources
                .split(chunk, 0)
                .iter()
                .map(|s| {
                    let c = s.size()[0];
                    let z = (s.unsqueeze(1) - sources.unsqueeze(0)).reshape([c * n, d]);
                    let g = (lin.jacobian(&z, true) - lin.jacobian(&-&z, true)) * 0.5;
                    g.reshape([c, n, d, f]).mean_dim([1i64].as_slice(), false, Kind::Double)
                })
                .collect();
            let field = Tensor::cat(&fields, 0);
            let src: Vec<i64> = idx.iter().map(|&i| self.rows.source[i] as i64).collect();
            blocks.push(field.index_select(0, &Tensor::from_slice(&src)));
        }
        if v.internal {
            let g = pick(self.rows.grad_log_density.as_ref().expect("densities when U is learned"));
            blocks.push(g.unsqueeze(2));
        }
        Tensor::cat(&blocks, 2) * tau
    }

    /// Assemble and solve the ridge system, then store θ in the energy.
    fn solve(&mut self) -> Result<f64> {
        let start = std::time::Instant::now();
        let steps = self.model.axis.steps();
        let mut a: Option<Tensor> = None;
        let mut b: Option<Tensor> = None;
        let mut parts = Vec::with_capacity(steps);
        for k in 0..steps {
            let idx: Vec<usize> = (0..self.rows.len()).filter(|&i| self.rows.step[i] == k).collect();
            if idx.is_empty() {
                continue;
            }
            let y = self.regressors(k, &idx);
            let p = y.size()[2];
            let disp = f64_tensor((&self.rows.y - &self.rows.x).select(ndarray::Axis(0), &idx).view());
            let w: Vec<f64> = idx.iter().map(|&i| self.rows.weight[i]).collect();
            let w = Tensor::from_slice(&w);
            let yw = &y * w.sqrt().view([-1, 1, 1]);
            let flat = yw.reshape([-1, p]);
            let ak = flat.transpose(0, 1).matmul(&flat);
            let bk = y.reshape([-1, p]).transpose(0, 1).matmul(&(&disp * w.view([-1, 1])).reshape([-1]));
            a = Some(a.map_or(ak.shallow_clone(), |a| a + &ak));
            b = Some(b.map_or(bk.shallow_clone(), |b| b + &bk));
            parts.push((y, disp, w));
        }
        let (a, b) = (a.expect("at least one step"), b.expect("at least one step"));
        let p = a.size()[0] as usize;
        let a = a + Tensor::eye(p as i64, (Kind::Double, Device::Cpu)) * self.model.config.star.ridge;
        let a_nd = Array2::from_shape_vec((p, p), Vec::<f64>::try_from(&a.contiguous().view([-1]))?)
            .map_err(|e| Error::internal(format!("normal matrix shape: {e}")))?;
        let b_nd = Array1::from(Vec::<f64>::try_from(&b)?);
        if a_nd.iter().chain(b_nd.iter()).any(|v| !v.is_finite()) {
            return Err(Error::numerical("linear JKOnet*: non-finite regressors (check the data)"));
        }
        let s = solve_spd(a_nd, b_nd)?;
        let theta: Vec<f64> = s.iter().map(|v| -v).collect();
        let theta_t = Tensor::from_slice(&theta);
        // Residual Σ_k Σ_i w_i ‖τ Y_i θ + (y_i − x_i)‖² (per step, summed).
        let mut loss = 0.0;
        for (y, disp, w) in &parts {
            let r = y.matmul(&theta_t) + disp;
            loss += (r.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Double) * w)
                .sum(Kind::Double)
                .double_value(&[]);
        }
        let lin = self.linear();
        let f = lin.features_count() as i64;
        let mut offset = 0;
        tch::no_grad(|| {
            for t in [&lin.theta_v, &lin.theta_w].into_iter().flatten() {
                t.shallow_clone().copy_(&theta_t.narrow(0, offset, f));
                offset += f;
            }
            if let Some(t) = &lin.theta3 {
                t.shallow_clone().copy_(&theta_t.narrow(0, offset, 1));
            }
        });
        self.solve_seconds = start.elapsed().as_secs_f64();
        Ok(loss)
    }
}

impl Trainer for LinearTrainer {
    crate::train::model_field_access!();
    fn step(&mut self) -> Result<(f64, f64)> {
        if self.loss.is_none() {
            self.loss = Some(self.solve()?);
        }
        Ok((self.loss.expect("solved"), 0.0))
    }
    /// The closed form is one solve: one iteration per epoch, and epochs after the first are free.
    fn iterations_per_epoch(&self) -> usize {
        1
    }
    /// One closed-form solve: further iterations would only repeat it.
    fn auto_iterations(&self) -> usize {
        1
    }
}

/// Solve the symmetric positive definite system (A) s = b in f64 with LAPACK (ndarray-linalg).
pub fn solve_spd(a: Array2<f64>, b: Array1<f64>) -> Result<Array1<f64>> {
    use ndarray_linalg::SolveH;
    a.solveh_into(b).map_err(|e| Error::numerical(format!("linear JKOnet*: the ridge system is singular ({e})")))
}

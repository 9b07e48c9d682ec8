//! The learned energy J_θ(ρ) = ∫V dρ + ½∬W(x−y) dρdρ + θ₃∫ρ log ρ, shared by every method.
//!
//! Units: the networks work in *normalised time* (the mean gap between snapshots is 1), which keeps
//! their outputs O(1) whatever the user's time unit. Queries convert back: in the user's time unit,
//! ∇V_user = ∇V_net / time_scale (and the same for W and θ₃), so the learned SDE is
//! dX = −∇V_user dt − (∇W_user ∗ ρ) dt + √(2 θ₃,user) dB with t in the user's unit.

use crate::error::{Error, Result};
pub mod linear;

use crate::nn::{Activation, Mlp, WeightInit};
use linear::{FeatureSpec, LinearEnergy};
use std::fmt;
use std::str::FromStr;
use tch::nn::{self, Module};
use tch::{Device, Tensor};

/// Which energy terms are learned. `t,V` is a time-varying potential V(x, t).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub potential: bool,
    pub interaction: bool,
    pub internal: bool,
    pub time_varying: bool,
}

impl Variant {
    pub const V: Variant = Variant { potential: true, interaction: false, internal: false, time_varying: false };
    pub const TV: Variant = Variant { potential: true, interaction: false, internal: false, time_varying: true };
}

impl Default for Variant {
    fn default() -> Self {
        Variant::V
    }
}

impl FromStr for Variant {
    type Err = Error;
    /// Names as in the papers: `V`, `t,V` (or `tV`), `W`, `V+W`, `V+U`, `W+U`, `V+W+U`, `t,V+U`, …
    /// (order of the terms is free; `U` is the internal energy θ₃∫ρ log ρ).
    fn from_str(s: &str) -> Result<Self> {
        let mut v = Variant { potential: false, interaction: false, internal: false, time_varying: false };
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        let rest = if let Some(r) = compact.strip_prefix("T,") {
            v.time_varying = true;
            r.to_string()
        } else if let Some(r) = compact.strip_prefix("TV") {
            v.time_varying = true;
            format!("V{r}")
        } else {
            compact
        };
        for term in rest.split('+') {
            let slot = match term {
                "V" => &mut v.potential,
                "W" => &mut v.interaction,
                "U" => &mut v.internal,
                _ => {
                    return Err(Error::invalid_argument(format!(
                        "unknown energy variant '{s}': use terms V, W, U joined by '+', optionally prefixed by 't,'"
                    )))
                }
            };
            if *slot {
                return Err(Error::invalid_argument(format!("energy variant '{s}' names a term twice")));
            }
            *slot = true;
        }
        if v.time_varying && !v.potential {
            return Err(Error::invalid_argument(format!("energy variant '{s}': 't,' needs a potential V")));
        }
        Ok(v)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms = Vec::new();
        if self.potential {
            terms.push("V");
        }
        if self.interaction {
            terms.push("W");
        }
        if self.internal {
            terms.push("U");
        }
        if self.time_varying {
            write!(f, "t,")?;
        }
        f.write_str(&terms.join("+"))
    }
}

/// Network shapes of the energy.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyConfig {
    pub variant: Variant,
    pub hidden: Vec<i64>,
    pub activation: Activation,
    /// Initial θ₃ (normalised time units) when the internal energy is learned.
    pub theta3_init: f64,
    /// How the networks' weights start (`Auto`: the method decides, uniform unless it says otherwise).
    pub init: WeightInit,
}

impl Default for EnergyConfig {
    /// V only, 2×64 softplus MLPs (the papers' choice), θ₃ starting at 0.1.
    fn default() -> Self {
        EnergyConfig {
            variant: Variant::V,
            hidden: vec![64, 64],
            activation: Activation::Softplus,
            theta3_init: 0.1,
            init: WeightInit::Auto,
        }
    }
}

/// The learned energy: its terms plus the variable store that holds their parameters.
pub struct Energy {
    pub(crate) vs: nn::VarStore,
    pub(crate) config: EnergyConfig,
    dim: i64,
    terms: Terms,
}

/// What an energy is made of: one type per kind, so each query matches once on the kind.
enum Terms {
    Networks(NetworkTerms),
    /// JKOnet*_l: V, W and θ₃ linear in fixed features.
    Linear(LinearEnergy),
}

/// MLP energies (iJKOnet, JKOnet*, JKOnet). A term is present when the variant learns it.
struct NetworkTerms {
    potential: Option<Mlp>,
    interaction: Option<Mlp>,
    /// θ₃ = softplus(raw) ≥ 0.
    theta3_raw: Option<Tensor>,
    /// An explicit quadratic part of V beside the network (iJKOnet's Gaussian warm start).
    quadratic: Option<Quadratic>,
}

/// V_q(x, t) = Σ_j w_j(t) (½ xᵀ Q_j x + b_jᵀ x): one symmetric Q_j and b_j per knot time, with
/// piecewise-linear (hat) weights w_j(t) in the time feature, constant beyond the first and last
/// knot. A time-independent V has one knot. At a knot, V_q is exactly that knot's quadratic, which is
/// what makes the affine JKO step of every training step representable.
struct Quadratic {
    /// Unsymmetrised Q_j (knots × d × d); the symmetric part is used.
    q: Tensor,
    /// b_j (knots × d).
    b: Tensor,
    /// Knot features f_j and the widths of the hat functions to their left and right (1 × knots
    /// each; the outer widths are unused), built once: the weights are evaluated on every call.
    /// None for a single knot (weight 1).
    hats: Option<(Tensor, Tensor, Tensor)>,
    /// First and last knot: time features are clamped to them.
    span: (f64, f64),
}

impl Quadratic {
    fn new(q: Tensor, b: Tensor, knots: &[f64]) -> Quadratic {
        let k = knots.len();
        let row = |v: Vec<f64>| {
            Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>()).unsqueeze(0).to_device(q.device())
        };
        let hats = (k > 1).then(|| {
            let left = (0..k).map(|j| if j == 0 { 1.0 } else { knots[j] - knots[j - 1] }).collect();
            let right = (0..k).map(|j| if j + 1 == k { 1.0 } else { knots[j + 1] - knots[j] }).collect();
            (row(knots.to_vec()), row(left), row(right))
        });
        Quadratic { q, b, hats, span: (knots[0], knots[k - 1]) }
    }

    /// Hat-function weights (n × knots) of each row's time feature, constant beyond the first and
    /// last knot (t is clamped to them).
    fn weights(&self, t_col: &Tensor) -> Tensor {
        let Some((f, left, right)) = &self.hats else {
            return Tensor::ones([t_col.size()[0], 1], (t_col.kind(), t_col.device()));
        };
        let kind = t_col.kind();
        let (f, left, right) = (f.to_kind(kind), left.to_kind(kind), right.to_kind(kind));
        let delta = t_col.clamp(self.span.0, self.span.1) - &f;
        let before = (&delta / left + 1.0).clamp_min(0.0);
        let after = (-(&delta / right) + 1.0).clamp_min(0.0);
        before.where_self(&delta.lt(0.0), &after)
    }

    /// (x Q_j per knot (n × knots × d), hat weights (n × knots)): what the value and the gradient share.
    fn parts(&self, x: &Tensor, t_col: &Tensor) -> (Tensor, Tensor) {
        let (n, d) = (x.size()[0], x.size()[1]);
        let k = self.q.size()[0];
        let q = (&self.q + self.q.transpose(1, 2)) * 0.5;
        // x Q_j for every knot in one matmul: [n, d] × [d, k·d].
        let xq = x.matmul(&q.permute([1, 0, 2]).reshape([d, k * d])).reshape([n, k, d]);
        (xq, self.weights(t_col))
    }

    /// V_q per row, differentiable in x and the parameters.
    fn value(&self, x: &Tensor, t_col: &Tensor) -> Tensor {
        let (xq, w) = self.parts(x, t_col);
        let value_j =
            ((xq * 0.5 + self.b.unsqueeze(0)) * x.unsqueeze(1)).sum_dim_intlist([2i64].as_slice(), false, x.kind());
        (value_j * w).sum_dim_intlist([1i64].as_slice(), false, x.kind())
    }

    /// ∇ₓV_q per row, differentiable in x and the parameters.
    fn grad(&self, x: &Tensor, t_col: &Tensor) -> Tensor {
        let (xq, w) = self.parts(x, t_col);
        ((xq + self.b.unsqueeze(0)) * w.unsqueeze(2)).sum_dim_intlist([1i64].as_slice(), false, x.kind())
    }
}

fn inverse_softplus(y: f64) -> f64 {
    // log(exp(y) − 1), stable for large y.
    if y > 20.0 {
        y
    } else {
        y.exp_m1().ln()
    }
}

impl Energy {
    /// Fresh networks, initialised deterministically from `seed`.
    pub fn new(config: &EnergyConfig, dim: usize, device: Device, seed: u64) -> Result<Energy> {
        let v = config.variant;
        if !(v.potential || v.interaction || v.internal) {
            return Err(Error::invalid_argument("the energy needs at least one of V, W, U"));
        }
        if config.hidden.iter().any(|&h| h <= 0) {
            return Err(Error::invalid_argument(format!(
                "hidden layer sizes must be positive, got {:?}",
                config.hidden
            )));
        }
        if !(config.theta3_init.is_finite() && config.theta3_init > 0.0) {
            return Err(Error::invalid_argument("theta3_init must be positive and finite"));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let d = dim as i64;
        let potential = v.potential.then(|| {
            let input = if v.time_varying { d + 1 } else { d };
            Mlp::new(&(&root / "potential"), input, &config.hidden, 1, config.activation)
        });
        let interaction =
            v.interaction.then(|| Mlp::new(&(&root / "interaction"), d, &config.hidden, 1, config.activation));
        let theta3_raw = v
            .internal
            .then(|| root.var_copy("theta3_raw", &Tensor::from_slice(&[inverse_softplus(config.theta3_init) as f32])));
        crate::nn::init_linear(&vs, seed, config.init);
        let terms = Terms::Networks(NetworkTerms { potential, interaction, theta3_raw, quadratic: None });
        Ok(Energy { vs, config: config.clone(), dim: d, terms })
    }

    /// Add an explicit quadratic part to V (zero until set) with one (Q, b) per knot time feature
    /// (sorted, at least one). Only for network potentials.
    pub(crate) fn add_quadratic(&mut self, knots: Vec<f64>) -> Result<()> {
        let (k, d) = (knots.len() as i64, self.dim);
        let root = self.vs.root();
        match &mut self.terms {
            Terms::Networks(n)
                if n.potential.is_some() && !knots.is_empty() && knots.windows(2).all(|w| w[1] > w[0]) =>
            {
                let q = root.zeros("quadratic_q", &[k, d, d]);
                let b = root.zeros("quadratic_b", &[k, d]);
                n.quadratic = Some(Quadratic::new(q, b, &knots));
                Ok(())
            }
            _ => Err(Error::internal("a quadratic part needs a network potential and increasing knots")),
        }
    }

    /// The network terms, if this is an MLP energy.
    fn networks(&self) -> Option<&NetworkTerms> {
        match &self.terms {
            Terms::Networks(n) => Some(n),
            Terms::Linear(_) => None,
        }
    }

    /// The explicit quadratic part of V, if any.
    fn quadratic(&self) -> Option<&Quadratic> {
        self.networks().and_then(|n| n.quadratic.as_ref())
    }

    /// The potential network when it is the energy's only learned part (no interaction, θ₃ or
    /// explicit quadratic part): what JKOnet*'s explicit training step covers.
    pub(crate) fn sole_potential_network(&self) -> Option<&Mlp> {
        let n = self.networks()?;
        match (&n.potential, &n.interaction, &n.theta3_raw, &n.quadratic) {
            (Some(v), None, None, None) => Some(v),
            _ => None,
        }
    }

    /// The linear energy (JKOnet*_l), if this is one.
    pub fn as_linear(&self) -> Option<&LinearEnergy> {
        match &self.terms {
            Terms::Linear(l) => Some(l),
            Terms::Networks(_) => None,
        }
    }

    /// Whether V has an explicit quadratic part.
    pub fn has_quadratic(&self) -> bool {
        self.quadratic().is_some()
    }

    /// Set knot j's quadratic to ½ xᵀQx + bᵀx (network units; Q symmetric, row-major d×d).
    pub(crate) fn set_quadratic(&self, j: usize, q: &[f64], b: &[f64]) -> Result<()> {
        let quad = self.quadratic().ok_or_else(|| Error::internal("no quadratic part"))?;
        let d = self.dim;
        if j as i64 >= quad.q.size()[0] || q.len() as i64 != d * d || b.len() as i64 != d {
            return Err(Error::internal("quadratic part: wrong knot or size"));
        }
        let qt = Tensor::from_slice(&q.iter().map(|&v| v as f32).collect::<Vec<_>>()).view([d, d]);
        let bt = Tensor::from_slice(&b.iter().map(|&v| v as f32).collect::<Vec<_>>());
        tch::no_grad(|| {
            quad.q.get(j as i64).copy_(&qt.to_device(quad.q.device()));
            quad.b.get(j as i64).copy_(&bt.to_device(quad.b.device()));
        });
        Ok(())
    }

    /// Scale the potential network's output layer (so that a warm-started V starts at its quadratic).
    pub(crate) fn shrink_potential_output(&mut self, factor: f64) {
        if let Terms::Networks(NetworkTerms { potential: Some(net), .. }) = &mut self.terms {
            net.shrink_output(factor);
        }
    }

    /// A linear-in-features energy (JKOnet*_l), all coefficients zero until fitted.
    pub fn new_linear(config: &EnergyConfig, spec: FeatureSpec, dim: usize, device: Device) -> Result<Energy> {
        let v = config.variant;
        if !(v.potential || v.interaction || v.internal) {
            return Err(Error::invalid_argument("the energy needs at least one of V, W, U"));
        }
        if v.time_varying {
            return Err(Error::invalid_argument(
                "the linear JKOnet* energy has no time-varying potential (t,V); use method jkonet_star",
            ));
        }
        let mut vs = nn::VarStore::new(device);
        // The closed form is solved in f64; keep its coefficients in f64 too (files store f32).
        vs.set_kind(tch::Kind::Double);
        let linear = LinearEnergy::new(&(vs.root() / "linear"), spec, dim, v.potential, v.interaction, v.internal)?;
        Ok(Energy { vs, config: config.clone(), dim: dim as i64, terms: Terms::Linear(linear) })
    }

    /// Whether a potential term V is present (network or linear).
    pub fn has_potential(&self) -> bool {
        match &self.terms {
            Terms::Networks(n) => n.potential.is_some(),
            Terms::Linear(l) => l.theta_v.is_some(),
        }
    }

    /// Whether an interaction term W is present (network or linear).
    pub fn has_interaction(&self) -> bool {
        match &self.terms {
            Terms::Networks(n) => n.interaction.is_some(),
            Terms::Linear(l) => l.theta_w.is_some(),
        }
    }

    /// ∇ₓV(x_i, t_i) per row as a differentiable function of the parameters (MLP energies), from
    /// the network's explicit input gradient: a loss on it needs only an ordinary backward.
    pub(crate) fn grad_potential_graph(&self, x: &Tensor, t_col: &Tensor) -> Option<Tensor> {
        let terms = self.networks()?;
        let net = terms.potential.as_ref()?;
        let g = if self.config.variant.time_varying {
            let input = Tensor::cat(&[x.shallow_clone(), t_col.shallow_clone()], 1);
            net.input_gradient(&input).narrow(1, 0, self.dim)
        } else {
            net.input_gradient(x)
        };
        Some(match &terms.quadratic {
            Some(quad) => g + quad.grad(x, t_col),
            None => g,
        })
    }

    /// (∇W(y_i − y_j))_{ij} over all pairs of a cloud y (m × m × d), differentiable in the
    /// parameters (MLP energies). The symmetrised ∇W(z) = ½(∇w(z) − ∇w(−z)) with z_ji = −z_ij is
    /// ½(G − Gᵀ) for G_ij = ∇w(y_i − y_j): one network pass over the pairs instead of two.
    pub(crate) fn pairwise_interaction_graph(&self, y: &Tensor) -> Option<Tensor> {
        let net = self.networks()?.interaction.as_ref()?;
        let (m, d) = (y.size()[0], y.size()[1]);
        let g = net.input_gradient(&(y.unsqueeze(1) - y.unsqueeze(0)).reshape([m * m, d])).reshape([m, m, d]);
        Some((&g - g.transpose(0, 1)) * 0.5)
    }

    pub fn dim(&self) -> usize {
        self.dim as usize
    }
    pub fn variant(&self) -> Variant {
        self.config.variant
    }
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// V(x, t) per row (n), in network units; `t` is the normalised time (used by `t,V` only).
    pub fn potential(&self, x: &Tensor, t: f64) -> Option<Tensor> {
        let t_col = Tensor::full([x.size()[0], 1], t, (x.kind(), x.device()));
        self.potential_rows(x, &t_col)
    }

    /// ∇_x V(x_i, t_i) with a per-row time feature column (n×1).
    pub fn grad_potential_rows(&self, x: &Tensor, t_col: &Tensor) -> Option<Tensor> {
        if !self.has_potential() {
            return None;
        }
        let xg = x.detach().set_requires_grad(true);
        let v = self.potential_rows(&xg, t_col).expect("potential present").sum(x.kind());
        Some(Tensor::run_backward(&[v], &[&xg], false, false).pop().expect("one input"))
    }

    /// V(x_i, t_i) with a per-row time feature column (n×1).
    pub fn potential_rows(&self, x: &Tensor, t_col: &Tensor) -> Option<Tensor> {
        let terms = match &self.terms {
            Terms::Linear(lin) => return lin.potential(x),
            Terms::Networks(n) => n,
        };
        terms.potential.as_ref().map(|net| {
            let input = if self.config.variant.time_varying {
                Tensor::cat(&[x.shallow_clone(), t_col.shallow_clone()], 1)
            } else {
                x.shallow_clone()
            };
            let v = net.forward(&input).squeeze_dim(1);
            match &terms.quadratic {
                Some(quad) => v + quad.value(x, t_col),
                None => v,
            }
        })
    }

    /// Σ_k Ĵ(batch_k) for batches stacked row-wise (`sizes[k]` rows each, per-row time feature
    /// `t_col` and weight `weight` = 1/size of its batch), minus θ₃·`entropy_sum` (Σ_k of the
    /// batches' entropy estimates). Same value as summing [`Energy::batch_energy`] over the batches,
    /// with one potential-network call.
    pub fn stacked_energy(
        &self,
        x: &Tensor,
        t_col: &Tensor,
        weight: &Tensor,
        sizes: &[i64],
        entropy_sum: Option<&Tensor>,
    ) -> Tensor {
        let mut total = Tensor::zeros([], (x.kind(), x.device()));
        if let Some(v) = self.potential_rows(x, t_col) {
            total += (v * weight).sum(x.kind());
        }
        if self.has_interaction() {
            for xk in x.split_with_sizes(sizes, 0) {
                let n = xk.size()[0];
                let z = (xk.unsqueeze(1) - xk.unsqueeze(0)).reshape([n * n, self.dim]);
                let w = self.interaction_kernel(&z).expect("interaction present");
                total += w.mean(w.kind()) * 0.5;
            }
        }
        if let (Some(th), Some(h)) = (self.theta3(), entropy_sum) {
            total -= th * h;
        }
        total
    }

    /// Symmetrised interaction kernel W(z) = ½(w(z) + w(−z)) per row of z.
    pub fn interaction_kernel(&self, z: &Tensor) -> Option<Tensor> {
        match &self.terms {
            Terms::Linear(lin) => Some((lin.kernel(z)? + lin.kernel(&-z)?) * 0.5),
            Terms::Networks(n) => {
                n.interaction.as_ref().map(|net| ((net.forward(z) + net.forward(&-z)) * 0.5).squeeze_dim(1))
            }
        }
    }

    /// θ₃ as a scalar tensor (network units), if learned.
    pub fn theta3(&self) -> Option<Tensor> {
        match &self.terms {
            Terms::Linear(lin) => lin.theta3(),
            Terms::Networks(n) => n.theta3_raw.as_ref().map(|r| r.softplus().squeeze()),
        }
    }

    /// Empirical energy of one batch (eq. 24): mean V + ½ mean_{i,j} W(x_i − x_j) − θ₃ H, where the
    /// entropy estimate H is supplied by the caller (precomputed for data, change of variables for maps).
    pub fn batch_energy(&self, x: &Tensor, t: f64, entropy: Option<&Tensor>) -> Tensor {
        let n = x.size()[0];
        let t_col = Tensor::full([n, 1], t, (x.kind(), x.device()));
        let weight = Tensor::full([n], 1.0 / n as f64, (x.kind(), x.device()));
        self.stacked_energy(x, &t_col, &weight, &[n], entropy)
    }

    /// ∇ₓV(x, t) (n×d, network units), detached.
    pub fn grad_potential(&self, x: &Tensor, t: f64) -> Option<Tensor> {
        let t_col = Tensor::full([x.size()[0], 1], t, (x.kind(), x.device()));
        self.grad_potential_rows(x, &t_col)
    }

    /// Interaction drift field (1/M) Σ_j ∇W(x_i − y_j) over a population y (n×d, network units).
    /// Evaluated in chunks of rows to bound memory at n·M·d.
    pub fn interaction_field(&self, x: &Tensor, population: &Tensor) -> Option<Tensor> {
        if !self.has_interaction() {
            return None;
        }
        let m = population.size()[0];
        let chunk = (1 << 20) / m.max(1) + 1;
        let parts: Vec<Tensor> = x
            .split(chunk, 0)
            .iter()
            .map(|xc| {
                let nc = xc.size()[0];
                let z = (xc.unsqueeze(1) - population.unsqueeze(0)).reshape([nc * m, self.dim]).set_requires_grad(true);
                let w = self.interaction_kernel(&z).expect("interaction present").sum(z.kind());
                let g = Tensor::run_backward(&[w], &[&z], false, false).pop().expect("one input");
                g.reshape([nc, m, self.dim]).mean_dim([1i64].as_slice(), false, g.kind())
            })
            .collect();
        Some(Tensor::cat(&parts, 0))
    }

    pub(crate) fn set_trainable(&mut self, trainable: bool) {
        if trainable {
            self.vs.unfreeze()
        } else {
            self.vs.freeze()
        }
    }
}

//! Input-convex network ψ in functional form: the parameters are a plain `Vec<Tensor>` so the inner
//! optimiser can update them with differentiable tensor arithmetic (the outer gradient flows through
//! the updates). Architecture and initialisation as the JKOnet reference (spec §2):
//!
//! z₀ = σ(W₀ˣx + b₀)², zᵢ = σ(softplus(Kᵢ) zᵢ₋₁ + Wᵢˣx + bᵢ), ψ(x) = softplus(K_out) z_{L−1} + W_outˣ x,
//!
//! with σ the leaky ReLU (slope 0.01). Non-negative z-weights and convex non-decreasing activations
//! make ψ convex, so ∇ψ is a monotone (optimal-transport) map. The reference's output bias is
//! dropped: it does not change ∇ψ, and an input that receives no gradient would make the unrolled
//! Adam's √v̂ non-differentiable at 0.
//!
//! The library's default adds a learned quadratic, ψ(x) = ½‖Lᵀx‖² + ICNN(x) with L = I at the start
//! and the kernels drawn with std 0.03 instead of 0.1 ([`IcnnShape::quadratic`]): ∇ψ then starts
//! near the identity, which is the JKO step of a flat energy, instead of a map that moves a 2-D
//! cloud by 2–5 units before any training (see `inner`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

const SLOPE: f64 = 0.01;

/// Shapes of an ICNN for input dimension `dim` and hidden widths `hidden`.
#[derive(Debug, Clone, PartialEq)]
pub struct IcnnShape {
    pub dim: i64,
    pub hidden: Vec<i64>,
    /// Add ½‖Lᵀx‖² with a learned d×d L that starts at the identity, so that ∇ψ starts near x
    /// when the ICNN's kernels start small.
    pub quadratic: bool,
}

impl IcnnShape {
    /// Parameter shapes in storage order: (Wᵢˣ, bᵢ) for each hidden layer, W_outˣ, then the raw
    /// z-kernels K₁ … K_{L−1}, K_out, then L when `quadratic`.
    fn shapes(&self) -> Vec<Vec<i64>> {
        let mut s = Vec::new();
        for &h in &self.hidden {
            s.push(vec![h, self.dim]);
            s.push(vec![h]);
        }
        s.push(vec![1, self.dim]);
        for w in self.hidden.windows(2) {
            s.push(vec![w[1], w[0]]);
        }
        s.push(vec![1, *self.hidden.last().expect("at least one hidden layer")]);
        if self.quadratic {
            s.push(vec![self.dim, self.dim]);
        }
        s
    }

    /// Fresh parameters: every kernel (including the raw z-kernels, before softplus) drawn from
    /// N(0, std²) from a seeded stream, biases zero, L = I. Leaf tensors that require grad.
    pub fn init(&self, std: f64, seed: u64, kind: Kind, device: Device) -> Vec<Tensor> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(0.0, std).expect("positive std");
        let shapes = self.shapes();
        let n = shapes.len();
        shapes
            .into_iter()
            .enumerate()
            .map(|(i, shape)| {
                let count: i64 = shape.iter().product();
                let values: Vec<f64> = if self.quadratic && i == n - 1 {
                    (0..count).map(|j| if j % (self.dim + 1) == 0 { 1.0 } else { 0.0 }).collect()
                } else if shape.len() == 1 {
                    vec![0.0; count as usize]
                } else if self.quadratic && i > 2 * self.hidden.len() {
                    // Raw z-kernels: softplus(K) ≈ 1/fan-in, so each z-layer averages its inputs
                    // instead of multiplying their scale by ≈ 0.69·fan-in.
                    let mean = (1.0 / shape[1] as f64).exp_m1().ln();
                    (0..count).map(|_| mean + normal.sample(&mut rng)).collect()
                } else {
                    (0..count).map(|_| normal.sample(&mut rng)).collect()
                };
                Tensor::from_slice(&values)
                    .view(shape.as_slice())
                    .to_kind(kind)
                    .to_device(device)
                    .set_requires_grad(true)
            })
            .collect()
    }

    /// The parameters as one flat vector, in storage order.
    pub fn flatten(&self, params: &[Tensor]) -> Tensor {
        Tensor::cat(&params.iter().map(|p| p.reshape([-1])).collect::<Vec<_>>(), 0)
    }

    /// Views of a flat parameter vector as the parameter tensors (one split, so autograd's
    /// backward through them is one concatenation, with zeros where a piece gets no gradient).
    pub fn unflatten(&self, theta: &Tensor) -> Vec<Tensor> {
        let shapes = self.shapes();
        let sizes: Vec<i64> = shapes.iter().map(|s| s.iter().product()).collect();
        theta.split_with_sizes(sizes.as_slice(), 0).iter().zip(&shapes).map(|(p, s)| p.view(s.as_slice())).collect()
    }

    /// Number of scalar parameters.
    pub fn numel(&self) -> i64 {
        self.shapes().iter().map(|s| s.iter().product::<i64>()).sum()
    }
}

/// ψ(x) per row (n), for parameters laid out as [`IcnnShape::init`] makes them.
/// With `quadratic`, ψ(x) = ½‖Lᵀx‖² + ICNN(x), still convex for any L.
pub fn psi(shape: &IcnnShape, params: &[Tensor], x: &Tensor) -> Tensor {
    let l = shape.hidden.len();
    let (wx, rest) = params.split_at(2 * l);
    let w_out = &rest[0];
    let kz = &rest[1..1 + l];
    let mut z = x.linear(&wx[0], Some(&wx[1])).leaky_relu_scaled(SLOPE).square();
    for i in 1..l {
        let pre = z.matmul(&kz[i - 1].softplus().tr()) + x.linear(&wx[2 * i], Some(&wx[2 * i + 1]));
        z = pre.leaky_relu_scaled(SLOPE);
    }
    let out = (z.matmul(&kz[l - 1].softplus().tr()) + x.matmul(&w_out.tr())).squeeze_dim(1);
    if shape.quadratic {
        out + x.matmul(&rest[1 + l]).square().sum_dim_intlist([1i64].as_slice(), false, x.kind()) * 0.5
    } else {
        out
    }
}

trait LeakyScaled {
    fn leaky_relu_scaled(&self, slope: f64) -> Tensor;
}

impl LeakyScaled for Tensor {
    /// max(x, slope·x) for 0 < slope < 1, written with elementwise ops that have higher derivatives.
    fn leaky_relu_scaled(&self, slope: f64) -> Tensor {
        self.maximum(&(self * slope))
    }
}

/// ∇ψ(x) (n×d), differentiable with respect to the parameters (and again, for the unrolled outer
/// gradient). Written out as the network's backward pass in plain tensor operations rather than
/// taken with autograd: the inner solver differentiates ∇ψ once per update (and the unrolled
/// hypergradient twice), and an autograd ∇ψ would make those second and third derivatives through
/// autograd's own graph, about twice the operations. The leaky ReLU's derivative is a constant mask
/// (its own derivative is 0 almost everywhere), as autograd would have it.
pub fn grad_psi(shape: &IcnnShape, params: &[Tensor], x: &Tensor) -> Tensor {
    let x = x.detach();
    let l = shape.hidden.len();
    let (wx, rest) = params.split_at(2 * l);
    let w_out = &rest[0];
    let kz: Vec<Tensor> = rest[1..1 + l].iter().map(Tensor::softplus).collect();
    let slope_mask = |a: &Tensor| a.gt(0.0).to_kind(a.kind()) * (1.0 - SLOPE) + SLOPE;
    // Forward: pre-activations a_i and the masks σ'(a_i).
    // σ(a) = σ'(a)·a: one product with the mask instead of max(a, slope·a), whose backward costs
    // a comparison and a masked fill per layer and differentiation order.
    let a0 = x.linear(&wx[0], Some(&wx[1]));
    let mut masks = vec![slope_mask(&a0)];
    let s0 = a0 * &masks[0];
    let mut z = s0.square();
    for i in 1..l {
        let a = z.matmul(&kz[i - 1].tr()) + x.linear(&wx[2 * i], Some(&wx[2 * i + 1]));
        let mask = slope_mask(&a);
        z = a * &mask;
        masks.push(mask);
    }
    // Backward: dψ/dz_{L−1} = softplus(K_out), then through each layer to x.
    // (Out-of-place sums: `+=` would write into the parameter vector's views.)
    let mut gz = kz[l - 1].shallow_clone();
    let mut grad = w_out.shallow_clone();
    for i in (1..l).rev() {
        let ga = gz * &masks[i];
        grad = &grad + ga.matmul(&wx[2 * i]);
        gz = ga.matmul(&kz[i - 1]);
    }
    // z₀ = σ(a₀)²: dz₀/da₀ = 2σ(a₀)σ'(a₀).
    let ga0 = gz * s0 * &masks[0] * 2.0;
    let grad = &grad + ga0.matmul(&wx[0]);
    if shape.quadratic {
        let q = &rest[1 + l];
        grad + x.matmul(q).matmul(&q.tr())
    } else {
        grad
    }
}

/// ∇ψ(x) by autograd of [`psi`] (`x` must require grad): the reference for [`grad_psi`] in tests.
#[cfg(test)]
fn grad_psi_autograd(shape: &IcnnShape, params: &[Tensor], x: &Tensor) -> Tensor {
    let s = psi(shape, params, x).sum(x.kind());
    Tensor::run_backward(&[s], &[x], true, true).pop().expect("one input")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the learned quadratic (the default parametrisation): it must keep ψ convex and its
    /// gradient exact too.
    fn shape() -> IcnnShape {
        IcnnShape { dim: 3, hidden: vec![16, 16, 8], quadratic: true }
    }

    #[test]
    fn parameter_count_matches_the_reference_layout() {
        // d = 2, [64, 64]: Wˣ 2·(64·2 + 64) + 2, K 64·64 + 64 = 4546 (the reference's 4547 less the
        // dropped output bias).
        assert_eq!(IcnnShape { dim: 2, hidden: vec![64, 64], quadratic: false }.numel(), 4546);
    }

    #[test]
    fn psi_is_convex_along_random_segments() {
        let s = shape();
        let p = s.init(0.5, 3, Kind::Double, Device::Cpu);
        tch::manual_seed(0);
        let a = Tensor::randn([200, 3], (Kind::Double, Device::Cpu)) * 2.0;
        let b = Tensor::randn([200, 3], (Kind::Double, Device::Cpu)) * 2.0;
        let f = |x: &Tensor| tch::no_grad(|| psi(&s, &p, x));
        for lam in [0.1, 0.3, 0.5, 0.77] {
            let mid = f(&(&a * lam + &b * (1.0 - lam)));
            let chord = f(&a) * lam + f(&b) * (1.0 - lam);
            let worst = (mid - chord).max().double_value(&[]);
            assert!(worst <= 1e-10, "ψ(λa+(1−λ)b) exceeds the chord by {worst}");
        }
    }

    #[test]
    fn hessian_is_positive_semidefinite() {
        let s = shape();
        let p = s.init(0.5, 4, Kind::Double, Device::Cpu);
        tch::manual_seed(1);
        let x = Tensor::randn([5, 3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let g = grad_psi_autograd(&s, &p, &x);
        for i in 0..5 {
            // Hessian at x_i, row by row: ∂(∂ψ/∂x_j)/∂x.
            let rows: Vec<Tensor> = (0..3)
                .map(|j| {
                    let gj = g.get(i).get(j);
                    Tensor::run_backward(&[gj], &[&x], true, false).pop().unwrap().get(i)
                })
                .collect();
            let h = Tensor::stack(&rows, 0);
            let sym = (&h + h.tr()) * 0.5;
            assert!((&h - h.tr()).abs().max().double_value(&[]) < 1e-10, "Hessian not symmetric");
            let eig = sym.linalg_eigvalsh("L");
            let min = eig.min().double_value(&[]);
            assert!(min >= -1e-10, "negative Hessian eigenvalue {min}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let s = shape();
        let p = s.init(0.3, 5, Kind::Double, Device::Cpu);
        tch::manual_seed(2);
        let x = Tensor::randn([4, 3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let g = grad_psi(&s, &p, &x);
        let h = 1e-6;
        for i in 0..4 {
            for j in 0..3 {
                let bump = |delta: f64| {
                    let xp = x.detach().copy();
                    let _ = xp.get(i).get(j).fill_(x.double_value(&[i, j]) + delta);
                    tch::no_grad(|| psi(&s, &p, &xp)).double_value(&[i])
                };
                let fd = (bump(h) - bump(-h)) / (2.0 * h);
                let a = g.double_value(&[i, j]);
                assert!((fd - a).abs() < 1e-6 * (1.0 + a.abs()), "({i},{j}): {a} vs {fd}");
            }
        }
    }

    #[test]
    fn written_out_gradient_matches_autograd_and_its_parameter_derivatives() {
        for shape in [shape(), IcnnShape { dim: 2, hidden: vec![8], quadratic: false }] {
            let p = shape.init(0.4, 6, Kind::Double, Device::Cpu);
            tch::manual_seed(3);
            let x = Tensor::randn([30, shape.dim], (Kind::Double, Device::Cpu)).set_requires_grad(true);
            let a = grad_psi(&shape, &p, &x);
            let b = grad_psi_autograd(&shape, &p, &x);
            assert!((&a - &b).abs().max().double_value(&[]) < 1e-10, "∇ψ differs from autograd");
            // The same first and second derivatives with respect to the parameters (the inner
            // solver and the unrolled hypergradient use both).
            let w = Tensor::randn([30, shape.dim], (Kind::Double, Device::Cpu));
            let ga = Tensor::run_backward(&[(&a * &w).sum(Kind::Double)], &p, true, true);
            let gb = Tensor::run_backward(&[(&b * &w).sum(Kind::Double)], &p, true, true);
            let pick = |g: &[Tensor]| g[0].square().sum(Kind::Double) + g[g.len() - 2].square().sum(Kind::Double);
            let (sa, sb) = (pick(&ga), pick(&gb));
            assert!((&sa - &sb).abs().double_value(&[]) < 1e-9 * (1.0 + sb.double_value(&[])));
            let ha = Tensor::run_backward(&[sa], &p, false, false);
            let hb = Tensor::run_backward(&[sb], &p, false, false);
            for (u, v) in ha.iter().zip(&hb) {
                // Autograd leaves a parameter's gradient undefined where it is identically 0.
                let zero_if_undefined = |t: &Tensor| {
                    if t.defined() {
                        t.shallow_clone()
                    } else {
                        Tensor::zeros([1], (Kind::Double, Device::Cpu))
                    }
                };
                let (u, v) = (zero_if_undefined(u), zero_if_undefined(v));
                assert!((&u - &v).abs().max().double_value(&[]) < 1e-8 * (1.0 + v.abs().max().double_value(&[])));
            }
        }
    }

    #[test]
    fn the_quadratic_starts_at_the_identity() {
        let s = IcnnShape { dim: 2, hidden: vec![64, 64], quadratic: true };
        assert_eq!(s.numel(), 4546 + 4);
        let p = s.init(0.03, 1, Kind::Double, Device::Cpu);
        assert!(p.last().unwrap().equal(&Tensor::eye(2, (Kind::Double, Device::Cpu))));
        // The map ∇ψ starts near x on a normalised cloud (the ICNN's kernels start small).
        tch::manual_seed(5);
        let x = (Tensor::randn([200, 2], (Kind::Double, Device::Cpu)) * 1.4).set_requires_grad(true);
        let g = grad_psi(&s, &p, &x);
        let err =
            (g - x.detach()).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Double).sqrt().mean(Kind::Double);
        assert!(err.double_value(&[]) < 0.5, "∇ψ − x at the start: {}", err.double_value(&[]));
    }

    #[test]
    fn initialisation_is_seeded() {
        let s = shape();
        let a = s.init(0.1, 9, Kind::Float, Device::Cpu);
        let b = s.init(0.1, 9, Kind::Float, Device::Cpu);
        let c = s.init(0.1, 10, Kind::Float, Device::Cpu);
        assert!(a.iter().zip(&b).all(|(u, v)| u.equal(v)));
        assert!(!a[0].equal(&c[0]));
        // Biases start at zero, kernels do not.
        assert_eq!(a[1].abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert!(a[0].abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}

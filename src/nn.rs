//! Small building blocks on tch: multilayer perceptrons with a chosen activation.

use tch::nn::{self, Module};
use tch::Tensor;

/// SELU's scale λ and α (libtorch's values).
const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;

/// Hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Softplus,
    Selu,
    Relu,
    Tanh,
    Silu,
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Softplus => x.softplus(),
            Activation::Selu => x.selu(),
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Silu => x.silu(),
        }
    }
    /// The derivative at the pre-activation z (elementwise).
    pub fn derivative(self, z: &Tensor) -> Tensor {
        match self {
            Activation::Softplus => z.sigmoid(),
            Activation::Selu => {
                // selu(z) = λz (z > 0), λα(eᶻ − 1) (z ≤ 0).
                let pos = z.gt(0.0).to_kind(z.kind());
                (&pos + (z.exp() * SELU_ALPHA) * (1.0 - &pos)) * SELU_LAMBDA
            }
            Activation::Relu => z.gt(0.0).to_kind(z.kind()),
            Activation::Tanh => 1.0 - z.tanh().square(),
            Activation::Silu => {
                let s = z.sigmoid();
                &s * (1.0 + z * (1.0 - &s))
            }
        }
    }
    /// The first and second derivatives at the pre-activation z, sharing their work.
    pub fn derivatives(self, z: &Tensor) -> (Tensor, Tensor) {
        match self {
            Activation::Softplus => {
                let s = z.sigmoid();
                let q = &s - s.square();
                (s, q)
            }
            Activation::Selu => {
                let pos = z.gt(0.0).to_kind(z.kind());
                let neg = (z.exp() * (SELU_ALPHA * SELU_LAMBDA)) * (1.0 - &pos);
                (&pos * SELU_LAMBDA + &neg, neg)
            }
            Activation::Relu => {
                let s = z.gt(0.0).to_kind(z.kind());
                let q = s.zeros_like();
                (s, q)
            }
            Activation::Tanh => {
                let t = z.tanh();
                let s = 1.0 - t.square();
                let q = &s * &t * -2.0;
                (s, q)
            }
            Activation::Silu => {
                // silu'' = σ(1 − σ)(2 + z(1 − 2σ)).
                let sig = z.sigmoid();
                let var = &sig - sig.square();
                let s = &sig + z * &var;
                let q = &var * (z * (1.0 - &sig * 2.0) + 2.0);
                (s, q)
            }
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Activation::Softplus => "softplus",
            Activation::Selu => "selu",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Silu => "silu",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Activation::Softplus, Activation::Selu, Activation::Relu, Activation::Tanh, Activation::Silu]
            .into_iter()
            .find(|a| a.name() == s)
    }
}

/// input → hidden… (activation after each) → linear output.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    activation: Activation,
}

impl Mlp {
    pub fn new(p: &nn::Path, input: i64, hidden: &[i64], output: i64, activation: Activation) -> Mlp {
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let mut width = input;
        for (i, &h) in hidden.iter().enumerate() {
            layers.push(nn::linear(p / format!("l{i}"), width, h, Default::default()));
            width = h;
        }
        layers.push(nn::linear(p / format!("l{}", hidden.len()), width, output, Default::default()));
        Mlp { layers, activation }
    }

    /// Scale the output layer so the network starts near zero (used for residual maps: T ≈ id).
    pub fn shrink_output(&mut self, factor: f64) {
        let last = self.layers.last_mut().expect("at least one layer");
        tch::no_grad(|| {
            let _ = last.ws.g_mul_scalar_(factor);
            if let Some(b) = &mut last.bs {
                let _ = b.g_mul_scalar_(factor);
            }
        });
    }
}

impl Mlp {
    /// The gradient of the summed first output with respect to the input, per row (n × input),
    /// written as plain tensor ops (chain rule through the layers) rather than autograd: training
    /// losses on ∇f then need one ordinary backward instead of a double backward, which on small
    /// CPU batches is several times cheaper.
    pub fn input_gradient(&self, x: &Tensor) -> Tensor {
        self.gradient_tape(x, false).gradient
    }
}

/// The explicit input gradient of an [`Mlp`] with what it takes to differentiate it in the
/// parameters: losses on ∇ₓf (JKOnet*'s optimality residual) then need no autograd at all, one
/// hand-written reverse pass of ≈ 20 tensor operations (spec: jkonet_star.md §4).
pub struct InputGradientTape<'a> {
    mlp: &'a Mlp,
    /// The input of each hidden layer (the first is x).
    inputs: Vec<Tensor>,
    /// σ′ and σ″ (in tapes made to be differentiated) at each hidden layer's pre-activation.
    slopes: Vec<(Tensor, Option<Tensor>)>,
    /// c_i = v_{i+1} ⊙ σ′(z_i) per hidden layer, and v_{i+1}, the gradient at hidden layer i's output.
    chain: Vec<(Tensor, Tensor)>,
    /// ∇ₓf (n × input).
    pub gradient: Tensor,
}

impl Mlp {
    /// [`Mlp::input_gradient`], keeping the tape for [`InputGradientTape::parameter_vjp`].
    pub fn input_gradient_tape(&self, x: &Tensor) -> InputGradientTape<'_> {
        self.gradient_tape(x, true)
    }

    /// The forward pass and the chain rule down to ∇ₓf, with σ″ when the tape will be differentiated.
    fn gradient_tape(&self, x: &Tensor, second_derivatives: bool) -> InputGradientTape<'_> {
        let m = self.layers.len() - 1;
        let mut inputs = Vec::with_capacity(m);
        let mut slopes = Vec::with_capacity(m);
        let mut h = x.shallow_clone();
        for (i, layer) in self.layers[..m].iter().enumerate() {
            let z = layer.forward(&h);
            slopes.push(if second_derivatives {
                let (s, q) = self.activation.derivatives(&z);
                (s, Some(q))
            } else {
                (self.activation.derivative(&z), None)
            });
            inputs.push(h);
            // The last hidden layer's activation only feeds the output layer, whose input gradient
            // is its weight row: only its slope is needed (saves one softplus, ≈ 4 % of a JKOnet* step).
            h = if i + 1 < m { self.activation.apply(&z) } else { Tensor::new() };
        }
        // From the output layer's first weight row, broadcast over the batch, down to the input.
        let mut chain: Vec<(Tensor, Tensor)> = Vec::with_capacity(m);
        let mut v = self.layers[m].ws.narrow(0, 0, 1);
        for (layer, (s, _)) in self.layers[..m].iter().zip(&slopes).rev() {
            let c = &v * s;
            let next = c.matmul(&layer.ws);
            chain.push((c, v));
            v = next;
        }
        chain.reverse();
        let gradient = if v.size()[0] == 1 { v.expand([x.size()[0], x.size()[1]], false) } else { v };
        InputGradientTape { mlp: self, inputs, slopes, chain, gradient }
    }
}

impl InputGradientTape<'_> {
    /// The parameter gradient of Σ ⟨cotangent, ∇ₓf⟩ (cotangent: n × input), one tensor per
    /// parameter in layer order (weight, then bias when present), shaped like the parameter.
    pub fn parameter_vjp(&self, cotangent: &Tensor) -> Vec<Tensor> {
        let grads: Vec<Tensor> = self.mlp.parameters().iter().map(Tensor::zeros_like).collect();
        self.parameter_vjp_into(cotangent, &grads);
        grads
    }

    /// [`InputGradientTape::parameter_vjp`] written into `grads` (contiguous, shaped like the
    /// parameters; views into one flat vector work), so a training step allocates no gradients.
    pub fn parameter_vjp_into(&self, cotangent: &Tensor, grads: &[Tensor]) {
        let layers = &self.mlp.layers;
        let m = layers.len() - 1;
        // The slot of each layer's weight and bias in `grads`.
        let mut slots = Vec::with_capacity(m + 1);
        let mut k = 0;
        for layer in layers {
            let bias = layer.bs.as_ref().map(|_| k + 1);
            slots.push((k, bias));
            k += 1 + usize::from(bias.is_some());
        }
        assert_eq!(k, grads.len(), "one gradient per parameter");
        // Through the gradient chain, from the input up: v_i = c_i W_i and c_i = v_{i+1} ⊙ σ′(z_i).
        let mut dv = cotangent.shallow_clone();
        let mut dz_slope: Vec<Tensor> = Vec::with_capacity(m);
        for (i, ((layer, (c, v_up)), (s, q))) in layers[..m].iter().zip(&self.chain).zip(&self.slopes).enumerate() {
            let dc = dv.matmul(&layer.ws.tr());
            let _ = c.tr().mm_out(&grads[slots[i].0], &dv);
            dz_slope.push(&dc * v_up * q.as_ref().expect("a tape made by input_gradient_tape"));
            dv = dc * s;
        }
        // v_m is the output layer's first weight row, shared by every sample; the output bias and
        // the other rows do not enter ∇ₓ of the first output.
        let out = &layers[m];
        let w_out = &grads[slots[m].0];
        if out.ws.size()[0] > 1 {
            let _ = w_out.shallow_clone().zero_();
        }
        let _ = dv.sum_intlist_out(&w_out.narrow(0, 0, 1), [0i64].as_slice(), true, dv.kind());
        if let Some(b) = slots[m].1 {
            let _ = grads[b].shallow_clone().zero_();
        }
        // Through the forward pass, from the top: z_i = h_i W_iᵀ + b_i, h_{i+1} = σ(z_i).
        let mut dz = dz_slope.pop().expect("at least one hidden layer");
        for i in (0..m).rev() {
            let _ = grads[slots[i].0].shallow_clone().addmm_(&dz.tr(), &self.inputs[i]);
            if let Some(b) = slots[i].1 {
                let _ = dz.sum_intlist_out(&grads[b], [0i64].as_slice(), false, dz.kind());
            }
            if i > 0 {
                dz = dz_slope.pop().expect("one per layer").addcmul_(&dz.matmul(&layers[i].ws), &self.slopes[i - 1].0);
            }
        }
    }
}

impl Mlp {
    /// The layer widths: input, hidden…, output.
    pub fn widths(&self) -> Vec<i64> {
        let mut out = vec![self.layers[0].ws.size()[1]];
        out.extend(self.layers.iter().map(|l| l.ws.size()[0]));
        out
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Every parameter in layer order: weight, then bias when present.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut out = Vec::with_capacity(2 * self.layers.len());
        for layer in &self.layers {
            out.push(layer.ws.shallow_clone());
            if let Some(b) = &layer.bs {
                out.push(b.shallow_clone());
            }
        }
        out
    }
}

/// Make `params` views into one contiguous vector, which is returned: an optimiser then updates
/// every parameter with a few whole-vector operations, and the parameters (and every handle to
/// them, such as a layer's weight) see each update without a copy.
pub fn flatten_parameters(params: &[Tensor]) -> Tensor {
    tch::no_grad(|| {
        let parts: Vec<Tensor> = params.iter().map(|p| p.detach().reshape([-1])).collect();
        let flat = Tensor::cat(&parts, 0);
        for (p, view) in params.iter().zip(views_like(&flat, params)) {
            p.shallow_clone().set_data(&view);
        }
        flat
    })
}

/// Consecutive views of the vector `flat` shaped like `params`, in their order (the layout of
/// [`flatten_parameters`]).
pub fn views_like(flat: &Tensor, params: &[Tensor]) -> Vec<Tensor> {
    let mut offset = 0;
    params
        .iter()
        .map(|p| {
            let n = p.numel() as i64;
            offset += n;
            flat.narrow(0, offset - n, n).view(p.size().as_slice())
        })
        .collect()
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let n = self.layers.len();
        let mut h = x.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h);
            if i + 1 < n {
                h = self.activation.apply(&h);
            }
        }
        h
    }
}

/// How the weights of a fresh linear layer are drawn (biases: see each variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightInit {
    /// The method's own choice ([`WeightInit::Uniform`] unless the method says otherwise).
    Auto,
    /// Weights and biases uniform in ±1/√fan_in (libtorch's default range).
    Uniform,
    /// Weights from a normal of variance 1/fan_in truncated at ±2 std, biases zero (Flax's
    /// `Dense` default, which the JKOnet* reference trains from).
    LecunNormal,
}

impl WeightInit {
    pub fn name(self) -> &'static str {
        match self {
            WeightInit::Auto => "auto",
            WeightInit::Uniform => "uniform",
            WeightInit::LecunNormal => "lecun_normal",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [WeightInit::Auto, WeightInit::Uniform, WeightInit::LecunNormal].into_iter().find(|w| w.name() == s)
    }
}

/// Re-initialise every linear layer of `vs` from a seeded stream (`Auto` draws uniformly). Drawing
/// from our own generator, in sorted variable order, keeps initialisation independent of
/// libtorch's global RNG, which other threads may be using.
pub fn init_linear(vs: &nn::VarStore, seed: u64, init: WeightInit) {
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, StandardNormal};
    // Standard deviation of a standard normal truncated at ±2: dividing by it restores variance 1.
    const TRUNCATED_STD: f64 = 0.879_625_66;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| {
        for name in names {
            let (prefix, is_bias) = if let Some(p) = name.strip_suffix(".weight") {
                (p, false)
            } else if let Some(p) = name.strip_suffix(".bias") {
                (p, true)
            } else {
                continue;
            };
            let fan_in =
                vars.get(&format!("{prefix}.weight")).map_or(1, |w| w.size().get(1).copied().unwrap_or(1)).max(1);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let var = &vars[name];
            let count = var.numel();
            let values: Vec<f32> = match init {
                WeightInit::Auto | WeightInit::Uniform => {
                    (0..count).map(|_| rng.random_range(-bound..bound) as f32).collect()
                }
                WeightInit::LecunNormal if is_bias => vec![0.0; count],
                WeightInit::LecunNormal => (0..count)
                    .map(|_| loop {
                        let g: f64 = StandardNormal.sample(&mut rng);
                        if g.abs() < 2.0 {
                            break (g / TRUNCATED_STD * bound) as f32;
                        }
                    })
                    .collect(),
            };
            let src = Tensor::from_slice(&values).view(var.size().as_slice()).to_device(var.device());
            var.shallow_clone().copy_(&src);
        }
    });
}

/// Detached copies of `params`: the last finite state a diverging run falls back to.
pub(crate) fn snapshot_parameters(params: &[tch::Tensor]) -> Vec<tch::Tensor> {
    tch::no_grad(|| params.iter().map(|p| p.detach().copy()).collect())
}

/// Write `backup` (from [`snapshot_parameters`]) back into `params`, in place.
pub(crate) fn restore_parameters(params: &[tch::Tensor], backup: &[tch::Tensor]) {
    tch::no_grad(|| {
        for (p, b) in params.iter().zip(backup) {
            p.shallow_clone().copy_(b);
        }
    });
}

/// dst ← decay·dst + (1 − decay)·src, variable by variable (same architecture, same names).
pub(crate) fn copy_parameters(
    src: &std::collections::HashMap<String, tch::Tensor>,
    dst: &std::collections::HashMap<String, tch::Tensor>,
    decay: f64,
) {
    tch::no_grad(|| {
        for (name, d) in dst {
            let v = &src[name];
            let mut d = d.shallow_clone();
            if decay == 0.0 {
                d.copy_(v);
            } else {
                let _ = d.g_mul_scalar_(decay).g_add_(&(v * (1.0 - decay)));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn explicit_input_gradient_matches_autograd_for_every_activation() {
        for act in [Activation::Softplus, Activation::Selu, Activation::Relu, Activation::Tanh, Activation::Silu] {
            let vs = nn::VarStore::new(Device::Cpu);
            let mlp = Mlp::new(&vs.root(), 3, &[16, 8], 1, act);
            init_linear(&vs, 3, WeightInit::Uniform);
            let x = Tensor::randn([20, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let y = mlp.forward(&x).sum(Kind::Float);
            let auto = Tensor::run_backward(&[y], &[&x], false, false).pop().unwrap();
            let explicit = mlp.input_gradient(&x.detach());
            let err = (&auto - &explicit).abs().max().double_value(&[]);
            let scale = auto.abs().max().double_value(&[]);
            assert!(err <= 1e-5 * scale.max(1.0), "{act:?}: max deviation {err} (scale {scale})");
        }
    }

    #[test]
    fn explicit_parameter_gradient_of_the_input_gradient_matches_autograd() {
        let acts = [Activation::Softplus, Activation::Selu, Activation::Relu, Activation::Tanh, Activation::Silu];
        for act in acts {
            for (hidden, outputs) in [(vec![16, 8], 1), (vec![12], 2), (vec![8, 8, 6], 1)] {
                let vs = nn::VarStore::new(Device::Cpu);
                let mlp = Mlp::new(&vs.root(), 3, &hidden, outputs, act);
                init_linear(&vs, 5, WeightInit::Uniform);
                let x = Tensor::randn([20, 3], (Kind::Float, Device::Cpu));
                let cot = Tensor::randn([20, 3], (Kind::Float, Device::Cpu));
                let tape = tch::no_grad(|| mlp.input_gradient_tape(&x));
                let explicit = tch::no_grad(|| tape.parameter_vjp(&cot));
                // Autograd through the (differentiable) explicit input gradient.
                let params = mlp.parameters();
                let loss = (mlp.input_gradient(&x) * &cot).sum(Kind::Float);
                let auto = Tensor::run_backward(&[loss], &params.iter().collect::<Vec<_>>(), false, true);
                let grad_same = (&tape.gradient - mlp.input_gradient(&x)).abs().max().double_value(&[]);
                assert!(grad_same < 1e-6, "{act:?} {hidden:?}: the tape's ∇ₓf differs by {grad_same}");
                for (i, (e, a)) in explicit.iter().zip(&auto).enumerate() {
                    // Unused parameters (the output bias, other outputs' rows) get zeros, as autograd's
                    // undefined gradients mean.
                    let a = if a.defined() { a.shallow_clone() } else { e.zeros_like() };
                    assert_eq!(e.size(), params[i].size());
                    let err = (e - &a).abs().max().double_value(&[]);
                    let scale = a.abs().max().double_value(&[]);
                    assert!(err <= 1e-5 * scale.max(1.0), "{act:?} {hidden:?} parameter {i}: {err} (scale {scale})");
                }
            }
        }
    }

    #[test]
    fn flattened_parameters_are_views_into_one_vector() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mlp = Mlp::new(&vs.root(), 2, &[4], 1, Activation::Softplus);
        init_linear(&vs, 1, WeightInit::Uniform);
        let x = Tensor::randn([5, 2], (Kind::Float, Device::Cpu));
        let before = mlp.forward(&x);
        let flat = flatten_parameters(&mlp.parameters());
        assert_eq!(flat.size(), [2 * 4 + 4 + 4 + 1]);
        assert!(mlp.forward(&x).equal(&before), "flattening keeps the values");
        // An update of the vector is an update of the network and of the store's variables.
        tch::no_grad(|| {
            let _ = flat.shallow_clone().g_add_scalar_(0.5);
        });
        assert!(!mlp.forward(&x).equal(&before));
        let bias = &vs.variables()["l1.bias"];
        assert_eq!(bias.double_value(&[0]), flat.double_value(&[flat.size()[0] - 1]));
        // Autograd still reaches the parameters.
        mlp.forward(&x).sum(Kind::Float).backward();
        assert!(bias.grad().defined() && bias.grad().double_value(&[0]) == 5.0);
    }

    #[test]
    fn lecun_normal_has_zero_biases_and_unit_fan_in_variance() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _mlp = Mlp::new(&vs.root(), 100, &[400], 1, Activation::Softplus);
        init_linear(&vs, 7, WeightInit::LecunNormal);
        let vars = vs.variables();
        let w = &vars["l0.weight"];
        // 40 000 draws: the sample variance of N(0, 1/100) is within 3 % with overwhelming probability.
        let var = w.square().mean(Kind::Double).double_value(&[]);
        assert!((var * 100.0 - 1.0).abs() < 0.03, "fan-in 100: weight variance {var}");
        let max = w.abs().max().double_value(&[]);
        assert!(max <= 2.0 / 0.879_625_66 * 0.1 + 1e-6, "truncated at two standard deviations: {max}");
        assert_eq!(vars["l0.bias"].abs().sum(Kind::Double).double_value(&[]), 0.0);
        init_linear(&vs, 7, WeightInit::Uniform);
        let bias = vars["l0.bias"].abs();
        assert!(bias.max().double_value(&[]) <= 0.1 && bias.sum(Kind::Double).double_value(&[]) > 0.0);
    }
}

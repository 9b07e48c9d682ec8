//! Small building blocks on tch: multilayer perceptrons with a chosen activation.

use tch::nn::{self, Module};
use tch::Tensor;

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
                let (lambda, alpha) = (1.050_700_987_355_480_5, 1.673_263_242_354_377_3);
                let pos = z.gt(0.0).to_kind(z.kind());
                (&pos + (z.exp() * alpha) * (1.0 - &pos)) * lambda
            }
            Activation::Relu => z.gt(0.0).to_kind(z.kind()),
            Activation::Tanh => 1.0 - z.tanh().square(),
            Activation::Silu => {
                let s = z.sigmoid();
                &s * (1.0 + z * (1.0 - &s))
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
        let n = self.layers.len();
        let mut h = x.shallow_clone();
        let mut slopes = Vec::with_capacity(n - 1);
        for (i, layer) in self.layers[..n - 1].iter().enumerate() {
            let z = layer.forward(&h);
            slopes.push(self.activation.derivative(&z));
            // The last hidden layer's activation only feeds the output layer, whose input
            // gradient is its weight row: only its slope is needed (saves one softplus, ≈ 4 % of a
            // JKOnet* step).
            if i + 2 < n {
                h = self.activation.apply(&z);
            }
        }
        // Row vector of the output layer's first unit, broadcast over the batch.
        let mut g = self.layers[n - 1].ws.narrow(0, 0, 1);
        for (layer, slope) in self.layers[..n - 1].iter().zip(&slopes).rev() {
            g = (g * slope).matmul(&layer.ws);
        }
        if g.size()[0] == 1 {
            g = g.expand([x.size()[0], x.size()[1]], false);
        }
        g
    }
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

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

/// Re-initialise every linear layer of `vs` from a seeded stream: weights and biases uniform in
/// ±1/√fan_in (libtorch's default range). Drawing from our own generator, in sorted variable order,
/// keeps initialisation independent of libtorch's global RNG, which other threads may be using.
pub fn init_uniform(vs: &nn::VarStore, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| {
        for name in names {
            let (fan_in_of, is_linear) = if let Some(p) = name.strip_suffix(".weight") {
                (format!("{p}.weight"), true)
            } else if let Some(p) = name.strip_suffix(".bias") {
                (format!("{p}.weight"), true)
            } else {
                (String::new(), false)
            };
            if !is_linear {
                continue;
            }
            let fan_in = vars.get(&fan_in_of).map_or(1, |w| w.size().get(1).copied().unwrap_or(1)).max(1);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let var = &vars[name];
            let count = var.numel();
            let values: Vec<f32> = (0..count).map(|_| rng.random_range(-bound..bound) as f32).collect();
            let src = Tensor::from_slice(&values).view(var.size().as_slice()).to_device(var.device());
            var.shallow_clone().copy_(&src);
        }
    });
}

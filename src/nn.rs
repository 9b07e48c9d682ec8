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

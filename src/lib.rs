//! ijkonet: learn the energy functional whose Wasserstein gradient flow (JKO scheme) explains a
//! sequence of population snapshots, then predict, simulate and query it.
//!
//! J(ρ) = ∫V dρ + ½∬W(x−y) dρ(x)dρ(y) + θ₃∫ρ log ρ
//!
//! - [`data`]: [`Snapshots`], validation, train/test splits, .npy/.npz/.csv input.
//! - [`synth`]: the 15 benchmark potentials, interaction kernels and an Euler–Maruyama generator.
//! - [`energy`], [`maps`], [`nn`]: the learned energy, the transport maps, MLP building blocks.
//! - [`methods`]: the learners (iJKOnet, JKOnet*, JKOnet) and the one list of them;
//!   [`model::Model`] is what they produce: predictions, simulation, ∇V queries, save/load;
//!   [`train`]: the training loop they share. Layers and rules: docs/ARCHITECTURE.md.
//! - [`config`]: every training option, settable by string key.
//! - [`metrics`]: exact optimal transport (W1, W2), Sinkhorn divergence, MMD, Bures–Wasserstein UVP,
//!   L2-UVP; [`entropy`]: Kozachenko–Leonenko differential entropy.
//! - [`device`]: compute device selection (`auto`, `cpu`, `cuda:N`).
//!
//! Cargo features: none by default, so the library (and `libijkonet.so` / `libijkonet.a` for C, R and
//! Julia) carries only the core; `plot` adds `plot` (PNG figures through plotters), `cli` the `ijkonet`
//! command-line tool (clap, indicatif) together with `plot`.

pub mod baselines;
pub mod check;
pub mod config;
pub mod data;
pub mod device;
pub mod energy;
pub mod entropy;
pub mod error;
pub mod ffi;
pub mod kernels;
pub mod linalg;
pub mod maps;
pub mod methods;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod optim;
#[cfg(feature = "plot")]
pub mod plot;
pub mod synth;
pub mod tensor;
pub mod train;

pub use config::TrainConfig;
pub use data::Snapshots;
pub use device::DeviceSpec;
pub use error::{Error, ErrorKind, Result};
pub use model::Model;

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

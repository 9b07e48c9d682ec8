//! ijkonet: learn the energy functional whose Wasserstein gradient flow (JKO scheme) explains a
//! sequence of population snapshots, then predict, simulate and query it.
//!
//! Modules:
//! - [`data`]: [`data::Snapshots`], validation, train/test splits, .npy/.npz/.csv input.
//! - [`synth`]: the 15 benchmark potentials, interaction kernels and an Euler–Maruyama generator.
//! - [`metrics`]: exact optimal transport (W1, W2), Sinkhorn divergence, MMD, Bures–Wasserstein UVP, L2-UVP.
//! - [`entropy`]: Kozachenko–Leonenko differential entropy.
//! - [`device`]: compute device selection (`auto`, `cpu`, `cuda:N`).

pub mod data;
pub mod device;
pub mod entropy;
pub mod error;
pub mod linalg;
pub mod metrics;
pub mod synth;

pub use data::Snapshots;
pub use device::DeviceSpec;
pub use error::{Error, ErrorKind, Result};

/// The crate version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod config;
pub mod energy;
pub mod maps;
pub mod methods;
pub mod model;
pub mod nn;
pub mod optim;
pub mod tensor;

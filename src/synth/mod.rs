//! Synthetic ground truth: the 15 benchmark potentials (used as potentials V and as interaction
//! kernels W), and an Euler–Maruyama particle generator, paired or unpaired.

pub mod generator;
pub mod potentials;

pub use generator::{generate, GroundTruth, InitialDistribution, Interaction, Pairing, SdeConfig, SyntheticDataset};
pub use potentials::Potential;

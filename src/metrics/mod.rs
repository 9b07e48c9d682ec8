//! Distances between point clouds and accuracy measures for learned fields. Everything here
//! works in f64 on ndarray, except the Sinkhorn divergence, which is differentiable on tch tensors.

pub mod bures;
pub mod mmd;
pub mod ot;
pub mod sinkhorn;
pub mod uvp;

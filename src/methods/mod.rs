//! Learning methods. Each one fits an [`crate::energy::Energy`] to snapshots; they share data,
//! energy, prediction and metrics.

pub mod ijkonet;

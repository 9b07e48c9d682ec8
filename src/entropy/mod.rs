//! Differential entropy estimation from samples.

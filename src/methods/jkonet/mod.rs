//! JKOnet: each JKO step is solved by fitting an ICNN whose gradient is the transport map, and the
//! energy is trained through the unrolled inner optimisation (spec `jkonet.md`).
//! PLACEHOLDER: the implementation lands with issue 8.

use crate::config::{KeyedOptions, TrainConfig};
use crate::data::Snapshots;
use crate::error::{Error, Result};
use crate::methods::Trainer;
use crate::model::Model;
use ndarray::{Array2, ArrayView2};

/// Options of JKOnet (keys listed in [`JkonetConfig::KEYS`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JkonetConfig {}

impl KeyedOptions for JkonetConfig {
    const KEYS: &'static [&'static str] = &[];
    fn apply(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(Error::invalid_argument(format!("unknown configuration key '{key}'")))
    }
    fn get(&self, _key: &str) -> String {
        String::new()
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// A JKOnet trainer for `config` on `data`.
pub fn trainer(_config: &TrainConfig, _data: &Snapshots) -> Result<Box<dyn Trainer>> {
    Err(Error::invalid_argument("JKOnet is not implemented yet"))
}

/// One-step prediction of snapshot k+1 from points of snapshot k with a JKOnet model.
pub fn predict_step(_model: &Model, _k: usize, _x: ArrayView2<f64>) -> Result<Array2<f64>> {
    Err(Error::invalid_argument("JKOnet is not implemented yet"))
}

//! Learning methods, and the one place they are listed ([`networks_of`], [`trainer`]). Each method
//! fits an [`crate::energy::Energy`] to snapshots and produces the same [`Model`]; they share data,
//! energy, maps, prediction, metrics and the training loop of [`crate::train`], and depend on
//! those core modules, never the other way round (docs/ARCHITECTURE.md).
//!
//! - [`ijkonet`]: iJKOnet, the inverse-optimisation min–max objective with transport maps.
//! - [`jkonet_star`]: JKOnet*, first-order optimality on precomputed OT couplings (MLP or linear).
//! - [`jkonet`]: JKOnet, ICNN JKO steps trained through the unrolled inner optimisation.

pub mod ijkonet;
pub mod jkonet;
pub mod jkonet_star;

use crate::baselines::{Baselines, GaussianFit, Normalisation};
use crate::config::{Method, TrainConfig};
use crate::data::Snapshots;
use crate::error::Result;
use crate::model::{MethodNetworks, Model};
use std::ops::ControlFlow;
use std::path::Path;

use crate::train::TrainingData;
pub use crate::train::{validation_split, Progress, Trainer};

/// The networks of each method: the list [`Model::load`] consults.
pub(crate) fn networks_of(method: Method) -> MethodNetworks {
    match method {
        Method::IJKOnet => ijkonet::NETWORKS,
        Method::JKOnetStar => jkonet_star::mlp::NETWORKS,
        Method::JKOnetStarLinear => jkonet_star::closed_form::NETWORKS,
        Method::JKOnet => jkonet::NETWORKS,
    }
}

/// The trainer of each method.
fn method_trainer(config: &TrainConfig, data: &TrainingData) -> Result<Box<dyn Trainer>> {
    Ok(match config.method {
        Method::IJKOnet => Box::new(ijkonet::IJKOnetTrainer::for_data(config, data)?),
        Method::JKOnetStar => Box::new(jkonet_star::mlp::StarTrainer::new(config, data.z)?),
        Method::JKOnetStarLinear => Box::new(jkonet_star::closed_form::LinearTrainer::new(config, data.z)?),
        Method::JKOnet => Box::new(jkonet::JkonetTrainer::new(config, data.z)?),
    })
}

impl Model {
    /// Load a model saved by [`Model::save`]. `device` overrides the saved device setting; without
    /// it, a saved CUDA device that this machine lacks falls back to the CPU (a model trained on a
    /// GPU stays usable on a laptop), while an explicitly requested missing device is an error.
    /// Loading leaves the process-wide libtorch thread count alone (see [`Model::apply_threads`]).
    pub fn load(path: impl AsRef<Path>, device: Option<crate::DeviceSpec>) -> Result<Model> {
        Model::load_with(path, device, networks_of)
    }
}

/// A trainer for `config.method` on `data` (validated snapshots, data units).
///
/// Every method trains in normalised coordinates (`normalise`, fitted on `data` and stored in the
/// model, which answers every query in the data's units) and its model carries the Gaussian fits
/// of `data` behind the naive predictions. With a validation fraction, a seeded part of every
/// snapshot (at most 500 cells each) is held out to choose the stopping point.
pub fn trainer(config: &TrainConfig, data: &Snapshots) -> Result<Box<dyn Trainer>> {
    config.validate()?;
    let norm = Normalisation::fit(data, config.normalise, config.normalise_spread());
    let baselines = Baselines::fit(data)?;
    let (fit, validation) = validation_split(config, data);
    let z = norm.snapshots(&fit)?;
    // The Gaussian fits see every training cell (validation ones included): as good as the baselines'.
    let fits: Vec<GaussianFit> = baselines.fits.iter().map(|f| f.normalised(&norm)).collect();
    let val_z = validation.as_ref().map(|v| norm.snapshots(v)).transpose()?;
    let inner = method_trainer(config, &TrainingData { z: &z, fits: &fits, validation: val_z.as_ref() })?;
    let mut session = Session { inner, validation };
    let model = session.model_mut();
    model.norm = norm;
    model.baselines = Some(baselines);
    Ok(Box::new(session))
}

/// A method's trainer plus the validation cells (see [`trainer`]).
struct Session {
    inner: Box<dyn Trainer>,
    validation: Option<Snapshots>,
}

impl Trainer for Session {
    fn model(&self) -> &Model {
        self.inner.model()
    }
    fn into_model(self: Box<Self>) -> Model {
        self.inner.into_model()
    }
    fn step(&mut self) -> Result<(f64, f64)> {
        self.inner.step()
    }
    fn iterations_per_epoch(&self) -> usize {
        self.inner.iterations_per_epoch()
    }
    fn finish_epoch(&mut self) {
        self.inner.finish_epoch()
    }
    fn model_mut(&mut self) -> &mut Model {
        self.inner.model_mut()
    }
    fn auto_iterations(&self) -> usize {
        self.inner.auto_iterations()
    }
    fn validation_data(&self) -> Option<&Snapshots> {
        self.validation.as_ref()
    }
}

/// Train `config.method` on `data` for `config.epochs` epochs with no callback.
pub fn fit(config: &TrainConfig, data: &Snapshots) -> Result<Model> {
    let mut t = trainer(config, data)?;
    t.train(config.epochs, None, &mut |_| ControlFlow::Continue(()))?;
    Ok(t.into_model())
}

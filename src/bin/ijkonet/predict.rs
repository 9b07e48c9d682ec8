//! `ijkonet predict` and `ijkonet simulate`: later populations from observed points.

use crate::args::{PredictArgs, SimulateArgs};
use crate::files::write_npy;
use ijkonet::data::{read_npy_matrix, write_npz};
use ijkonet::model::JkoStepOptions;
use ijkonet::{DeviceSpec, Error, Model, Result, Snapshots};

pub fn cmd_predict(a: PredictArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let x = read_npy_matrix(&a.input)?;
    let times = model.times();
    if a.from_step >= times.len() {
        return Err(Error::invalid_argument(format!(
            "--from-step {} out of range: the model has snapshots 0..={}",
            a.from_step,
            times.len() - 1
        )));
    }
    let out = match a.to_time {
        Some(t) => {
            let opts = JkoStepOptions { iterations: a.jko_iterations, ..JkoStepOptions::default() };
            model.predict_at(x.view(), times[a.from_step], t, &opts)?
        }
        None => model.rollout(a.from_step, a.steps.unwrap_or(1), x.view())?.pop().expect("at least one step"),
    };
    write_npy(&a.output, &out)?;
    println!("wrote {} ({} points × {})", a.output.display(), out.nrows(), out.ncols());
    Ok(())
}

pub fn cmd_simulate(a: SimulateArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let x = read_npy_matrix(&a.input)?;
    if a.steps == 0 {
        return Err(Error::invalid_argument("--steps must be at least 1"));
    }
    let t0 = a.t0.unwrap_or(model.times()[0]);
    let clouds = model.simulate(x.view(), t0, a.dt, a.steps, a.seed)?;
    let times = (0..=a.steps).map(|s| t0 + s as f64 * a.dt).collect();
    write_npz(&a.output, &Snapshots::new(times, clouds)?)?;
    println!("wrote {} ({} snapshots of {} points)", a.output.display(), a.steps + 1, x.nrows());
    Ok(())
}

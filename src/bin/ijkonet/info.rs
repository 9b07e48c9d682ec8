//! `ijkonet info`: what a saved model is.

use crate::args::InfoArgs;
use ijkonet::{DeviceSpec, Model, Result};

pub fn cmd_info(a: InfoArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    let c = model.config();
    let times: Vec<String> = model.times().iter().map(|t| format!("{t}")).collect();
    println!("model          {}", a.model.display());
    println!("method         {}", model.method().name());
    println!("variant        {}{}", model.energy().variant(), if c.variant_auto { " (auto)" } else { "" });
    println!("dimension      {}", model.dim());
    println!("times          {} ({} snapshots, {} steps)", times.join(", "), times.len(), times.len() - 1);
    println!("device         {}", c.device);
    println!("epochs done    {}", model.epochs_done());
    if model.energy().variant().internal {
        println!("theta3         {:.6}", model.theta3());
    }
    let n = model.normalisation();
    let centre: Vec<String> = n.centre.iter().map(|v| format!("{v:.4}")).collect();
    println!("normalisation  x -> (x - c)/s, c = ({}), s = {:.4}", centre.join(", "), n.scale);
    match model.validation_summary() {
        Some(v) => println!(
            "validation W1  {:.4} before training, best {:.4} at epoch {} of {} (stopped: {})",
            v.initial_w1, v.best_w1, v.best_epoch, v.epochs_run, v.stop_reason
        ),
        None => println!("validation W1  none (validation split off)"),
    }
    match model.baselines() {
        Some(b) => {
            let shrink: Vec<String> = b.fits.iter().map(|f| format!("{:.3}", f.shrinkage)).collect();
            println!(
                "baselines      no motion, mean shift, affine OT (Ledoit-Wolf fits of {} snapshots, shrinkage {})",
                b.fits.len(),
                shrink.join(", ")
            );
        }
        None => println!("baselines      none (a version-1 model file)"),
    }
    let keys = ["tau", "seed", "batch_size", "map_steps", "energy_hidden", "map_hidden", "warm_start"];
    let options: Vec<String> = keys.iter().filter_map(|k| c.get(k).ok().map(|v| format!("{k}={v}"))).collect();
    println!("options        {}", options.join(" "));
    Ok(())
}

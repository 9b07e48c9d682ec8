//! `ijkonet train`: training with a progress bar (or periodic log lines), the history sidecar and the
//! held-out evaluation.

use crate::args::TrainArgs;
use crate::data::load_data;
use crate::eval::evaluate;
use crate::files::{read_truth, sidecar, write_text, HISTORY_SUFFIX};
use crate::report::print_table;
use ijkonet::methods::{self, Progress};
use ijkonet::{DeviceSpec, Error, Result, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::time::Instant;

pub fn cmd_train(a: TrainArgs, device: Option<DeviceSpec>) -> Result<()> {
    let mut config = TrainConfig { seed: a.seed, ..TrainConfig::default() };
    if let Some(d) = device {
        config.device = d;
    }
    if let Some(m) = &a.method {
        config.set("method", m)?;
    }
    if let Some(v) = &a.variant {
        config.set("variant", v)?;
    }
    if let Some(e) = a.epochs {
        config.set("epochs", &e.to_string())?;
    }
    if let Some(s) = a.max_seconds {
        config.set("max_seconds", &s.to_string())?;
    }
    for kv in &a.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::invalid_argument(format!("--set expects key=value, got '{kv}'")))?;
        config.set(k.trim(), v.trim())?;
    }
    let data = load_data(&a.data)?;
    let truth = read_truth(&a.data.data)?;
    let (train, test) = if a.test_fraction == 0.0 {
        (data, None)
    } else {
        let (train, test) = data.split(a.test_fraction, a.seed)?;
        (train, Some(test))
    };
    for (k, (between, noise)) in ijkonet::baselines::drift_signal(&train, a.seed)?.into_iter().enumerate() {
        if between < 1.2 * noise {
            println!(
                "warning: step {k}: the population moves by W1 {between:.4}, hardly more than two samples of one \
                 snapshot differ (W1 {noise:.4}); the drift is barely identifiable from these data"
            );
        }
    }
    let start = Instant::now();
    let mut trainer = methods::trainer(&config, &train)?;
    let per_epoch = trainer.iterations_per_epoch().max(1);
    let epochs = trainer.budget_epochs(0);
    let norm = trainer.model().normalisation();
    println!(
        "training {}_{} on {} snapshots {:?} of dimension {} (up to {} epochs of {} iterations{}, device {:?}; \
         coordinates centred and scaled by {:.4})",
        config.method.display_name(),
        config.energy.variant,
        train.len(),
        train.sizes(),
        train.dim(),
        epochs,
        per_epoch,
        trainer
            .validation_data()
            .map_or(String::new(), |v| format!(", early stopping on {:?} validation cells", v.sizes())),
        config.device.resolve()?,
        norm.scale
    );
    let bar = if std::io::stdout().is_terminal() {
        let bar = ProgressBar::new(epochs as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} epochs [{elapsed_precise} < {eta_precise}] {msg}")
                .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    // Without a terminal, a line every ~10 % keeps logs informative without flooding them.
    let log_every = if bar.is_hidden() { (epochs / 10).max(1) } else { 0 };
    let eval = match (&test, a.eval_every) {
        (Some(t), n) if n > 0 => Some((t, n)),
        _ => None,
    };
    let mut history: Vec<Progress> = Vec::new();
    let result = trainer.train(epochs, eval, &mut |p| {
        let metric = p.metric.map_or(String::new(), |m| format!("  held-out W1 {m:.4}"));
        let val = match (p.validation, p.best_validation) {
            (Some(v), Some(b)) => format!("  validation W1 {v:.4} (best {b:.4})"),
            (None, Some(b)) => format!("  best validation W1 {b:.4}"),
            _ => String::new(),
        };
        let msg = format!("energy loss {:+.4}  map loss {:+.4}{val}{metric}", p.energy_loss, p.map_loss);
        bar.set_position(p.epoch as u64);
        bar.set_message(msg.clone());
        if log_every > 0 && (p.epoch % log_every == 0 || p.epoch == p.epochs) {
            println!("epoch {:>5}/{}  {msg}", p.epoch, p.epochs);
        }
        history.push(*p);
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    result?;
    let model = trainer.into_model();
    println!("trained in {:.2} s", start.elapsed().as_secs_f64());
    if let Some(v) = model.validation_summary() {
        let why = match v.stop_reason {
            "patience" => "stopped early: no better validation score for the patience window",
            "time" => "stopped at the wall-clock budget",
            _ => "ran the whole budget",
        };
        println!(
            "validation W1: {:.4} at the start (warm start), best {:.4} at epoch {} — kept; {} epochs run, {why}",
            v.initial_w1, v.best_w1, v.best_epoch, v.epochs_run
        );
    }
    if model.config().energy.variant.internal {
        match &truth {
            Some(t) => println!("learned diffusion coefficient θ₃ = {:.4} (true β = {})", model.theta3(), t.beta),
            None => println!("learned diffusion coefficient θ₃ = {:.4}", model.theta3()),
        }
    }
    model.save(&a.output)?;
    let history_path = sidecar(&a.output, HISTORY_SUFFIX);
    let mut csv = String::from("epoch,energy_loss,map_loss,heldout_w1,validation_w1\n");
    for p in &history {
        let metric = p.metric.map_or(String::new(), |m| m.to_string());
        let val = p.validation.map_or(String::new(), |m| m.to_string());
        csv.push_str(&format!("{},{},{},{metric},{val}\n", p.epoch, p.energy_loss, p.map_loss));
    }
    write_text(&history_path, &csv)?;
    println!("wrote {} and {}", a.output.display(), history_path.display());
    match test {
        Some(test) => {
            let rows = evaluate(&model, &test, truth.as_ref())?;
            println!("\nheld-out data ({} of each snapshot):", a.test_fraction);
            print_table(&rows);
        }
        None => println!("(no held-out data: --test-fraction 0)"),
    }
    Ok(())
}

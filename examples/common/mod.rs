//! Helpers shared by the benchmark examples (`mod common;` in each): summary statistics, the EB
//! data, options given as `key=value`, and a timed training run with an optional wall-clock cap.
#![allow(dead_code)] // each example uses a subset

use ijkonet::config::TrainConfig;
use ijkonet::data::read_labelled_npy;
use ijkonet::methods;
use ijkonet::{Model, Snapshots};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean and population standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = mean(v);
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// "m ± s" with `digits` decimals.
pub fn fmt_mean_std(v: &[f64], digits: usize) -> String {
    let (m, s) = mean_std(v);
    format!("{m:.digits$} ± {s:.digits$}")
}

/// `key=value` of a command-line argument (panics with a usage hint otherwise).
pub fn key_value(arg: &str) -> (&str, &str) {
    arg.split_once('=').unwrap_or_else(|| panic!("arguments are key=value, got '{arg}'"))
}

/// Comma-separated seeds.
pub fn parse_seeds(v: &str) -> Vec<u64> {
    v.split(',').map(|s| s.trim().parse().expect("seed")).collect()
}

/// The options of `config` that differ from the defaults, as `key=value` (or "the defaults"),
/// leaving out the keys in `except`.
pub fn changed_options(config: &TrainConfig, except: &[&str]) -> String {
    let changed: Vec<String> = config
        .entries()
        .into_iter()
        .zip(TrainConfig::default().entries())
        .filter(|(a, b)| a != b && !except.contains(&a.0.as_str()))
        .map(|((k, v), _)| format!("{k}={v}"))
        .collect();
    if changed.is_empty() {
        "the defaults".to_string()
    } else {
        changed.join(" ")
    }
}

/// `../shared/data/eb_pca5` next to the repository.
pub fn eb_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5")
}

/// The EB 5-D snapshots of a folder holding `data.npy` and `sample_labels.npy`.
pub fn read_eb(dir: &Path) -> ijkonet::Result<Snapshots> {
    read_labelled_npy(dir.join("data.npy"), dir.join("sample_labels.npy"))
}

/// Train `config` on `train` (`config.epochs`, 0 = the method's default budget); with `budget_s`,
/// stop after the first epoch that ends past that many seconds. Returns the model and the seconds
/// the whole run took (the method's precomputation included).
pub fn fit_timed(config: &TrainConfig, train: &Snapshots, budget_s: Option<f64>) -> ijkonet::Result<(Model, f64)> {
    let start = Instant::now();
    let mut trainer = methods::trainer(config, train)?;
    let trained = trainer.train(config.epochs, None, &mut |_| {
        if budget_s.is_some_and(|b| start.elapsed().as_secs_f64() > b) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match trained {
        Err(e) if e.kind() != ijkonet::ErrorKind::Cancelled => return Err(e),
        _ => {}
    }
    Ok((trainer.into_model(), start.elapsed().as_secs_f64()))
}

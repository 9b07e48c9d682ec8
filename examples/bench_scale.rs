//! Scale: one epoch of iJKOnet_V on `cells` cells per snapshot × `dim` dimensions × `snapshots`
//! snapshots (default 100 000 × 50 × 5), its time and peak memory, then the evaluation of the
//! one-step W1 on clouds that large (exact OT on seeded subsamples, metrics::ot::evaluation_w1) and
//! its stability over subsample seeds.
//!
//! cargo run --release --example bench_scale -- [cells=100000] [dim=50] [snapshots=5] [epochs=1]
//!     [device=cpu|cuda] [key=value …]
//!
//! Data: unpaired snapshots of a drifting, anisotropic Gaussian population (snapshot k has mean
//! 0.5·k along the first axis and a spread that grows along the second), so the model has a motion
//! to learn and the naive predictions have something to miss.

use ijkonet::baselines::Baseline;
use ijkonet::config::TrainConfig;
use ijkonet::metrics::ot::{subsampled_w1, EXACT_EVALUATION_POINTS};
use ijkonet::{methods, Snapshots};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::ControlFlow;
use std::time::Instant;

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn population(cells: usize, dim: usize, k: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_fn((cells, dim), |(_, j)| {
        let xi: f64 = StandardNormal.sample(rng);
        match j {
            0 => 0.5 * k as f64 + xi,
            1 => (1.0 + 0.2 * k as f64) * xi,
            _ => xi,
        }
    })
}

fn main() -> ijkonet::Result<()> {
    let (mut cells, mut dim, mut snapshots, mut epochs) = (100_000usize, 50usize, 5usize, 1usize);
    let mut config = TrainConfig::default();
    config.set("variant", "V")?;
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "cells" => cells = v.parse().expect("cells"),
            "dim" => dim = v.parse().expect("dim"),
            "snapshots" => snapshots = v.parse().expect("snapshots"),
            "epochs" => epochs = v.parse().expect("epochs"),
            _ => config.set(k, v)?,
        }
    }
    config.epochs = epochs;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = Instant::now();
    let train: Vec<Array2<f64>> = (0..snapshots).map(|k| population(cells, dim, k, &mut rng)).collect();
    let test: Vec<Array2<f64>> = (0..snapshots).map(|k| population(cells, dim, k, &mut rng)).collect();
    let times: Vec<f64> = (0..snapshots).map(|k| k as f64).collect();
    let (train, test) = (Snapshots::new(times.clone(), train)?, Snapshots::new(times, test)?);
    println!(
        "data: {snapshots} snapshots × {cells} cells × {dim} dims (train and test each), generated in {:.1} s, peak RSS {:.0} MiB",
        start.elapsed().as_secs_f64(),
        peak_rss_mib()
    );

    let start = Instant::now();
    let mut trainer = methods::trainer(&config, &train)?;
    let setup = start.elapsed().as_secs_f64();
    let per_epoch = trainer.iterations_per_epoch();
    let t0 = Instant::now();
    trainer.train(epochs, None, &mut |p| {
        println!("  epoch {}: energy loss {:.4}, validation {:?}", p.epoch, p.energy_loss, p.validation);
        ControlFlow::Continue(())
    })?;
    let train_secs = t0.elapsed().as_secs_f64();
    let model = trainer.into_model();
    println!(
        "training: setup (normalisation, Gaussian fits, warm start) {setup:.1} s; {epochs} epoch(s) of {per_epoch} \
         iterations in {train_secs:.1} s ({:.1} ms per iteration) on {:?}; peak RSS {:.0} MiB",
        1e3 * train_secs / (epochs * per_epoch) as f64,
        model.device(),
        peak_rss_mib()
    );

    // Evaluation: the model's and the baselines' one-step W1 on the test clouds (subsampled exact OT).
    let t0 = Instant::now();
    let w = model.one_step_w1(&test)?;
    let base = model.baseline_w1(&test)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let b = |kind: Baseline| mean(&base.iter().find(|(k, _)| *k == kind).expect("every baseline").1);
    println!(
        "one-step W1 (mean over {} steps; exact OT on 3 seeded subsample pairs of {EXACT_EVALUATION_POINTS}): model {:.4} | \
         no motion {:.4}, mean shift {:.4}, affine OT {:.4} | {:.1} s; peak RSS {:.0} MiB",
        snapshots - 1,
        mean(&w),
        b(Baseline::NoMotion),
        b(Baseline::MeanShift),
        b(Baseline::AffineOt),
        t0.elapsed().as_secs_f64(),
        peak_rss_mib()
    );

    // Stability of the estimate: step 0 with other subsample seeds and sizes.
    let pred = model.push_forward(0, test.get(0).expect("snapshot 0").points.view())?;
    let target = &test.get(1).expect("snapshot 1").points;
    for size in [1000usize, 2000, EXACT_EVALUATION_POINTS] {
        let values: Vec<f64> = (0..5u64)
            .map(|seed| subsampled_w1(pred.view(), target.view(), size, 3, seed).map(|e| e.value))
            .collect::<ijkonet::Result<_>>()?;
        let m = mean(&values);
        let sd = (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        let floor = subsampled_w1(train.get(1).expect("snapshot 1").points.view(), target.view(), size, 3, 0)?;
        println!(
            "  step 0, subsamples of {size}: W1 {m:.4} ± {sd:.4} over 5 seeds (3 pairs each); sampling floor \
             (train vs test cells of snapshot 1, same distribution) {:.4}",
            floor.value
        );
    }
    Ok(())
}

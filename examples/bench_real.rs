//! Real snapshot data against the naive predictions, trained with the defaults: for each data set and
//! seed, a seeded 60/40 split of every snapshot, training on the 60 % with no option set, then the
//! mean one-step W1 on the 40 % (held-out cells of snapshot k pushed one step, compared with the
//! held-out cells of snapshot k+1) next to no motion, mean shift and the affine Gaussian OT map fitted
//! on the training cells.
//!
//! cargo run --release --example bench_real -- [sets=weinreb_2d,emt_3d,hsmm_10d,eb_pca5]
//!     [seeds=0,1,2] [root=../shared/data/practice] [dump_split=DIR] [key=value …]
//!
//! `dump_split=DIR` also writes each split as `DIR/<set>_seed<s>_{train,test}.npz` (`data`, `labels`,
//! `times`), so that another tool (benches/otcfm_eb.py) trains and scores on exactly these cells.
//!
//! A set is a folder with `data.npy` and `times.npy` (or `sample_labels.npy`); it is looked up under
//! `root`, then under `../shared/data`. Extra key=value pairs are training options.

use ijkonet::baselines::Baseline;
use ijkonet::config::TrainConfig;
use ijkonet::data::{read_labelled_npy, write_npz};
use ijkonet::methods;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn find_set(name: &str, roots: &[PathBuf]) -> Option<(PathBuf, PathBuf)> {
    roots.iter().map(|r| r.join(name)).find_map(|dir| {
        let data = dir.join("data.npy");
        ["times.npy", "sample_labels.npy"].iter().map(|l| dir.join(l)).find(|l| l.exists()).map(|l| (data, l))
    })
}

fn main() -> ijkonet::Result<()> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let mut roots = vec![shared.join("practice"), shared.clone()];
    let mut sets: Vec<String> = ["weinreb_2d", "emt_3d", "hsmm_10d", "eb_pca5"].map(String::from).to_vec();
    let mut seeds = vec![0u64, 1, 2];
    let mut config = TrainConfig::default();
    let mut dump: Option<PathBuf> = None;
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "seeds" => seeds = v.split(',').map(|s| s.parse().expect("seed")).collect(),
            "sets" => sets = v.split(',').map(String::from).collect(),
            "root" => roots.insert(0, PathBuf::from(v)),
            "dump_split" => dump = Some(PathBuf::from(v)),
            _ => config.set(k, v)?,
        }
    }
    let changed: Vec<String> = config
        .entries()
        .into_iter()
        .zip(TrainConfig::default().entries())
        .filter(|(a, b)| a != b)
        .map(|((k, v), _)| format!("{k}={v}"))
        .collect();
    println!("options: {}", if changed.is_empty() { "the defaults".to_string() } else { changed.join(" ") });
    let mut summary = Vec::new();
    for set in &sets {
        let Some((data_path, labels_path)) = find_set(set, &roots) else {
            eprintln!("{set}: not found under {roots:?}");
            continue;
        };
        let data = read_labelled_npy(&data_path, &labels_path)?;
        println!("\n{set}: sizes {:?}, dim {}, times {:?}", data.sizes(), data.dim(), data.times());
        let mut rows: Vec<[f64; 5]> = Vec::new();
        for &seed in &seeds {
            let (train, test) = data.split(0.4, seed)?;
            if let Some(dir) = &dump {
                std::fs::create_dir_all(dir).map_err(|e| ijkonet::Error::io(format!("{}: {e}", dir.display())))?;
                write_npz(dir.join(format!("{set}_seed{seed}_train.npz")), &train)?;
                write_npz(dir.join(format!("{set}_seed{seed}_test.npz")), &test)?;
            }
            let mut c = config.clone();
            c.seed = seed;
            let start = Instant::now();
            let mut trainer = methods::trainer(&c, &train)?;
            trainer.train(0, None, &mut |_| ControlFlow::Continue(()))?;
            let secs = start.elapsed().as_secs_f64();
            let model = trainer.into_model();
            let w = mean(&model.one_step_w1(&test)?);
            let base = model.baseline_w1(&test)?;
            let b = |kind: Baseline| mean(&base.iter().find(|(k, _)| *k == kind).expect("every baseline").1);
            let (none, shift, affine) = (b(Baseline::NoMotion), b(Baseline::MeanShift), b(Baseline::AffineOt));
            let v = model.validation_summary();
            println!(
                "  seed {seed}: model {w:.4} | no motion {none:.4}, mean shift {shift:.4}, affine OT {affine:.4} | \
                 ratio to best {:.3} | {secs:.1} s, {} epochs{}",
                w / none.min(shift).min(affine),
                model.epochs_done(),
                v.map_or(String::new(), |v| format!(
                    " (validation {:.4} → best {:.4} at epoch {}, {})",
                    v.initial_w1, v.best_w1, v.best_epoch, v.stop_reason
                ))
            );
            rows.push([w, none, shift, affine, secs]);
        }
        summary.push((set.clone(), data.sizes(), data.dim(), rows));
    }
    println!(
        "\n| set | cells per snapshot | d | model W1 | no motion | mean shift | affine OT | model / best baseline | time (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (set, sizes, dim, rows) in &summary {
        let col = |i: usize| mean_std(&rows.iter().map(|r| r[i]).collect::<Vec<_>>());
        let ratios: Vec<f64> = rows.iter().map(|r| r[0] / r[1].min(r[2]).min(r[3])).collect();
        let f = |(m, s): (f64, f64)| format!("{m:.3} ± {s:.3}");
        println!(
            "| {set} | {sizes:?} | {dim} | {} | {} | {} | {} | {} | {:.0} |",
            f(col(0)),
            f(col(1)),
            f(col(2)),
            f(col(3)),
            f(mean_std(&ratios)),
            col(4).0
        );
    }
    Ok(())
}

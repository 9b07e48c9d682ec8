//! JKOnet* benchmarks against the reference's CPU anchors (spec jkonet_star.md §8.5, issue 7).
//!
//! - `part=speed`: wavy_plateau, 2000 particles paired, T = 5, split by trajectory 50/50 (1000 train),
//!   batch 250 (20 steps per epoch): ms/epoch of JKOnet*_V, s/epoch of the full V+W+U model, and
//!   the JKOnet*_l (V) solve including couplings and features.
//! - `part=accuracy`: one-step W1 (mean over the 5 steps, held-out half) of V (1000 epochs),
//!   linear V, and full V+W+U (100 epochs), paired (split by trajectory) and unpaired (independent
//!   populations, split per snapshot).
//! - `part=eb`: EB 5-D, 60/40 split per snapshot, t,V and V, 100 epochs × 5 seeds.
//!
//! cargo run --release --example bench_jkonet_star -- [part=all|speed|speed_v|accuracy|eb] [device=cpu]
//!     [data=<eb_pca5 dir>] [seeds=0,1,2,3,4] [v_epochs=1000] [full_epochs=100] [eb_epochs=100]
//!     [speed_epochs=200] [full_theta3_init=0.001] [eb_variants=t,V;V]
//!     [eb_split=<train.npy>,<test.npy> (labels in <x>_labels.npy; the same split for every seed)] [key=value …]

use ijkonet::config::{Method, TrainConfig};
use ijkonet::data::read_labelled_npy;
use ijkonet::methods::{self, Trainer};
use ijkonet::synth::{generate, Pairing, Potential, SdeConfig};
use ijkonet::Snapshots;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

fn config(base: &TrainConfig, method: Method, variant: &str, epochs: usize) -> TrainConfig {
    let mut c = base.clone();
    c.method = method;
    c.epochs = epochs;
    c.set("variant", variant).expect("variant");
    c
}

/// Train; returns (trainer, precompute seconds, training seconds).
fn run(c: &TrainConfig, train: &Snapshots) -> ijkonet::Result<(Box<dyn Trainer>, f64, f64)> {
    let (t, pre, secs, _) = run_timed(c, train)?;
    Ok((t, pre, secs))
}

/// [`run`], also returning the median epoch's seconds (robust to a busy machine's outliers).
fn run_timed(c: &TrainConfig, train: &Snapshots) -> ijkonet::Result<(Box<dyn Trainer>, f64, f64, f64)> {
    let start = Instant::now();
    let mut t = methods::trainer(c, train)?;
    let pre = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut last = start;
    let mut epochs = Vec::new();
    t.train(c.epochs, None, &mut |_| {
        epochs.push(last.elapsed().as_secs_f64());
        last = Instant::now();
        ControlFlow::Continue(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    epochs.sort_by(f64::total_cmp);
    Ok((t, pre, secs, epochs.get(epochs.len() / 2).copied().unwrap_or(f64::NAN)))
}

/// `x.npy` with its labels in `x_labels.npy`.
fn labelled(path: &std::path::Path) -> ijkonet::Result<Snapshots> {
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("file name");
    read_labelled_npy(path, path.with_file_name(format!("{stem}_labels.npy")))
}

fn wavy(pairing: Pairing) -> ijkonet::Result<(Snapshots, Snapshots)> {
    let sde = SdeConfig {
        potential: Some(Potential::WavyPlateau),
        n_particles: 2000,
        n_steps: 5,
        pairing,
        ..SdeConfig::default()
    };
    let data = generate(&sde)?.snapshots;
    match pairing {
        Pairing::Paired => data.split_paired(0.5, 0),
        Pairing::Unpaired => data.split(0.5, 0),
    }
}

fn main() -> ijkonet::Result<()> {
    let mut base = TrainConfig::default();
    base.set("device", "cpu")?;
    let mut part = "all".to_string();
    let mut theta3_init = "0.001".to_string();
    let mut seeds = vec![0u64, 1, 2, 3, 4];
    let mut eb_variants = vec!["t,V".to_string(), "V".to_string()];
    // A fixed split (the reference's: numpy seed 0, 60/40 per snapshot), the same for every seed.
    let mut fixed_split: Option<(PathBuf, PathBuf)> = None;
    let (mut v_epochs, mut full_epochs, mut eb_epochs, mut speed_epochs) = (1000, 100, 100, 200);
    let mut data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5");
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "part" => part = v.to_string(),
            "seeds" => seeds = v.split(',').map(|s| s.parse().expect("seed")).collect(),
            "v_epochs" => v_epochs = v.parse().expect("v_epochs"),
            "full_epochs" => full_epochs = v.parse().expect("full_epochs"),
            "eb_epochs" => eb_epochs = v.parse().expect("eb_epochs"),
            "speed_epochs" => speed_epochs = v.parse().expect("speed_epochs"),
            "data" => data_dir = PathBuf::from(v),
            "eb_split" => {
                let (a, b) = v.split_once(',').expect("eb_split=<train.npy>,<test.npy>");
                fixed_split = Some((PathBuf::from(a), PathBuf::from(b)));
            }
            "eb_variants" => eb_variants = v.split(';').map(str::to_string).collect(),
            "full_theta3_init" => theta3_init = v.to_string(),
            _ => base.set(k, v)?,
        }
    }
    println!("device {:?}, threads setting {}", base.device.resolve()?, base.threads);
    let all = part == "all";
    // The speed set, made once for both speed parts.
    let speed_train = if all || part == "speed" || part == "speed_v" { Some(wavy(Pairing::Paired)?.0) } else { None };
    if let Some(train) = &speed_train {
        let c = config(&base, Method::JKOnetStar, "V", speed_epochs);
        let (t, pre, secs, median) = run_timed(&c, train)?;
        println!(
            "speed V: {} epochs × {} steps, {:.2} ms/epoch (median {:.2}; couplings {:.3} s)",
            speed_epochs,
            t.iterations_per_epoch(),
            1e3 * secs / speed_epochs as f64,
            1e3 * median,
            pre
        );
    }
    if let (true, Some(train)) = (all || part == "speed", &speed_train) {
        let e = 10.min(speed_epochs);
        let c = config(&base, Method::JKOnetStar, "V+W+U", e);
        let (_, pre, secs) = run(&c, train)?;
        println!("speed V+W+U: {:.4} s/epoch over {e} epochs (couplings + GMM {:.3} s)", secs / e as f64, pre);
        let c = config(&base, Method::JKOnetStarLinear, "V", 1);
        let (_, pre, secs) = run(&c, train)?;
        println!("speed linear V: {:.3} s total (couplings {:.3} s, features + solve {:.3} s)", pre + secs, pre, secs);
        let c = config(&base, Method::JKOnetStarLinear, "V+W+U", 1);
        let (_, pre, secs) = run(&c, train)?;
        println!("speed linear V+W+U: {:.3} s total (couplings + GMM {:.3} s, solve {:.3} s)", pre + secs, pre, secs);
    }
    if all || part == "accuracy" {
        for pairing in [Pairing::Paired, Pairing::Unpaired] {
            let (train, test) = wavy(pairing)?;
            for (name, method, variant, epochs) in [
                ("JKOnet*_V", Method::JKOnetStar, "V", v_epochs),
                ("JKOnet*_l,V", Method::JKOnetStarLinear, "V", 1),
                ("JKOnet* (V+W+U)", Method::JKOnetStar, "V+W+U", full_epochs),
                ("JKOnet*_l (V+W+U)", Method::JKOnetStarLinear, "V+W+U", 1),
            ] {
                let mut c = config(&base, method, variant, epochs);
                if method == Method::JKOnetStar && variant.contains('U') {
                    // The data have no diffusion; θ₃ starts near 0 (the shared default 0.1 would
                    // need more than 100 epochs of Adam steps to decay, and adds its noise).
                    c.set("theta3_init", &theta3_init)?;
                }
                let (t, pre, secs) = run(&c, &train)?;
                let w = t.model().one_step_w1(&test)?;
                let (m, s) = mean_std(&w);
                let per: Vec<String> = w.iter().map(|v| format!("{v:.4}")).collect();
                println!(
                    "accuracy {pairing:?} {name} ({epochs} ep): W1 {m:.4} ± {s:.4} [{}] time {:.1} s",
                    per.join(", "),
                    pre + secs
                );
            }
        }
    }
    if all || part == "eb" {
        let data = read_labelled_npy(data_dir.join("data.npy"), data_dir.join("sample_labels.npy"))?;
        for variant in eb_variants.iter().map(String::as_str) {
            let (mut scores, mut pres, mut trains) = (Vec::new(), Vec::new(), Vec::new());
            for &seed in &seeds {
                let (train, test) = match &fixed_split {
                    Some((a, b)) => (labelled(a)?, labelled(b)?),
                    None => data.split(0.4, seed)?,
                };
                let mut c = config(&base, Method::JKOnetStar, variant, eb_epochs);
                c.seed = seed;
                let (t, pre, secs) = run(&c, &train)?;
                let w = t.model().one_step_w1(&test)?;
                let m = w.iter().sum::<f64>() / w.len() as f64;
                println!("eb {variant} seed {seed}: W1 {m:.4} {w:.4?} couplings {pre:.2} s train {secs:.2} s");
                scores.push(m);
                pres.push(pre);
                trains.push(secs);
            }
            let (m, s) = mean_std(&scores);
            println!(
                "eb {variant} {eb_epochs} epochs: W1 {m:.3} ± {s:.3} over {} seeds; couplings {:.2} s, training {:.2} s, \
                 end to end {:.2} s per seed",
                seeds.len(),
                mean_std(&pres).0,
                mean_std(&trains).0,
                mean_std(&pres).0 + mean_std(&trains).0
            );
        }
    }
    Ok(())
}

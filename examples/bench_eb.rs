//! EB 5-D benchmark, the iJKOnet paper's Table 5 protocol: per snapshot a random 60/40 split, train
//! on the 60 %, predict one step from the held-out cells of snapshot k and compare (exact W1) with the
//! held-out cells of snapshot k+1, k = 0..3. Repeated over seeds; prints per-step mean ± std.
//!
//! cargo run --release --example bench_eb -- [variant=V] [epochs=1000] [seeds=0,1,2] [data=<eb_pca5 dir>]
//!     [key=value …]

use ijkonet::config::TrainConfig;
use ijkonet::data::read_labelled_npy;
use ijkonet::methods;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

fn main() -> ijkonet::Result<()> {
    let mut config = TrainConfig { epochs: 1000, ..TrainConfig::default() };
    let mut seeds = vec![0u64, 1, 2];
    let mut root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5");
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "seeds" => seeds = v.split(',').map(|s| s.parse().expect("seed")).collect(),
            "data" => root = v.into(),
            _ => config.set(k, v)?,
        }
    }
    let data = read_labelled_npy(root.join("data.npy"), root.join("sample_labels.npy"))?;
    println!(
        "EB 5-D: sizes {:?}; variant {}, {} epochs, map_steps {}, batch {}, device {:?}",
        data.sizes(),
        config.energy.variant,
        config.epochs,
        config.map_steps,
        config.batch_size,
        config.device.resolve()?
    );
    let mut per_seed = Vec::new();
    for &seed in &seeds {
        let (train, test) = data.split(0.4, seed)?;
        let mut c = config.clone();
        c.seed = seed;
        let start = Instant::now();
        let mut trainer = methods::trainer(&c, &train)?;
        trainer.train(c.epochs, Some((&test, 100)), &mut |p| {
            if let Some(m) = p.metric {
                eprintln!(
                    "  seed {seed} epoch {:>5}: one-step W1 {m:.4}  (energy loss {:+.4})",
                    p.epoch, p.energy_loss
                );
            }
            ControlFlow::Continue(())
        })?;
        let secs = start.elapsed().as_secs_f64();
        let w = trainer.model().one_step_w1(&test)?;
        let (m, s) = mean_std(&w);
        println!(
            "seed {seed}: W1 per step {:?} mean {m:.3} ± {s:.3} (over steps); {secs:.1} s, {:.2} epochs/s",
            w.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
            c.epochs as f64 / secs
        );
        per_seed.push(w);
    }
    let steps = per_seed[0].len();
    let mut line = Vec::new();
    for k in 0..steps {
        let (m, s) = mean_std(&per_seed.iter().map(|w| w[k]).collect::<Vec<_>>());
        line.push(format!("{m:.3} ± {s:.3}"));
    }
    let means: Vec<f64> = per_seed.iter().map(|w| w.iter().sum::<f64>() / w.len() as f64).collect();
    let (m, s) = mean_std(&means);
    println!("per step (mean ± std over {} seeds): {}", seeds.len(), line.join(" | "));
    println!("mean over steps: {m:.3} ± {s:.3} (std over seeds)");
    Ok(())
}

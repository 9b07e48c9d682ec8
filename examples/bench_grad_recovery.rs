//! ∇V recovery on the 15 synthetic 2-D potentials, unpaired snapshots, every method: the relative
//! L² error ‖∇V̂ − ∇V‖/‖∇V‖ (`metrics::uvp::relative_l2_error`, square-rooted as `ijkonet eval`
//! prints it) and the mean cosine between ∇V̂ and ∇V (`metrics::uvp::mean_cosine`), on the held-out
//! cells of snapshots 1..K at their own times, averaged over the K steps.
//!
//! Data: `synth::generate`, unpaired (each snapshot its own population), U[−4,4]² start, `n`
//! particles per snapshot, `steps` Euler steps, 60/40 split per snapshot. The step size is chosen
//! per potential so that particles move more than the sampling noise: dt = disp / RMS‖∇V‖ over the
//! U[−4,4]² start (`dt=auto`, the default; `dt=<number>` fixes one step size for every potential),
//! i.e. an RMS displacement of `disp` in the first step, halved while the explicit Euler steps throw
//! a particle beyond |x| = 10. The example prints, per potential, the
//! drift signal that `ijkonet train` warns on (`baselines::drift_signal` on the training cells: W1
//! between consecutive snapshots against W1 between two halves of one snapshot, 300-cell halves).
//!
//! Methods (labels for `methods=`): ijkonet_V (defaults with `variant=V` and an `ijkonet_iterations`
//! budget, early stopping on), star_V (JKOnet*_V, defaults: 100 epochs), star_linear_V (closed form,
//! defaults), jkonet_V (`jkonet_epochs` epochs).
//!
//! cargo run --release --example bench_grad_recovery -- [potentials=all|name,…] [methods=all|label,…]
//!     [n=1000] [steps=5] [dt=auto|<number>] [disp=1] [seed=0] [ijkonet_iterations=1000]
//!     [jkonet_epochs=2] [probe=true] [key=value … training options for every method]

mod common;

use common::{fit_timed, key_value, mean};
use ijkonet::baselines::drift_signal;
use ijkonet::config::TrainConfig;
use ijkonet::metrics::uvp::{mean_cosine, relative_l2_error};
use ijkonet::synth::{generate, GroundTruth, Potential, SdeConfig};
use ijkonet::{Model, Snapshots};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, Uniform};

const METHODS: [(&str, &str); 4] = [
    ("ijkonet_V", "ijkonet"),
    ("star_V", "jkonet_star"),
    ("star_linear_V", "jkonet_star_linear"),
    ("jkonet_V", "jkonet"),
];

/// RMS of ‖∇V‖ over 20 000 points of U[−4,4]² (fixed seed).
fn rms_gradient(p: Potential) -> f64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let u = Uniform::new(-4.0, 4.0).expect("bounds");
    let x = Array2::from_shape_fn((20_000, 2), |_| u.sample(&mut rng));
    let g = p.gradients(x.view());
    (g.iter().map(|v| v * v).sum::<f64>() / x.nrows() as f64).sqrt()
}

/// (relative L² error, mean cosine) of ∇V̂ against ∇V on held-out snapshots 1..K, mean over K.
/// Where ∇V ≡ 0 (`flat`) neither is defined: (RMS‖∇V̂‖, NaN) instead.
pub fn grad_recovery(model: &Model, truth: &GroundTruth, test: &Snapshots) -> ijkonet::Result<(f64, f64)> {
    let (mut rel, mut cos) = (Vec::new(), Vec::new());
    for k in 1..test.len() {
        let s = test.get(k).expect("snapshot");
        let learned = model.grad_potential(s.points.view(), s.time)?;
        let exact = truth.grad_potential(s.points.view());
        if exact.iter().all(|&v| v == 0.0) {
            rel.push((learned.iter().map(|v| v * v).sum::<f64>() / learned.nrows() as f64).sqrt());
            cos.push(f64::NAN);
            continue;
        }
        rel.push(relative_l2_error(learned.view(), exact.view())?.sqrt());
        cos.push(mean_cosine(learned.view(), exact.view())?);
    }
    Ok((mean(&rel), mean(&cos)))
}

fn main() -> ijkonet::Result<()> {
    let mut potentials: Vec<Potential> = Potential::ALL.to_vec();
    let mut methods: Vec<String> = METHODS.iter().map(|m| m.0.to_string()).collect();
    let (mut n, mut steps, mut dt, mut disp, mut seed) = (1000usize, 5usize, None::<f64>, 1.0f64, 0u64);
    let (mut ijk_iterations, mut jkonet_epochs, mut probe) = (1000usize, 2usize, false);
    let mut user: Vec<(String, String)> = Vec::new();
    for arg in std::env::args().skip(1) {
        let (k, v) = key_value(&arg);
        match k {
            "potentials" if v == "all" => {}
            "potentials" => potentials = v.split(',').map(|s| s.parse()).collect::<ijkonet::Result<_>>()?,
            "methods" if v == "all" => {}
            "methods" => methods = v.split(',').map(String::from).collect(),
            "n" => n = v.parse().expect("n"),
            "steps" => steps = v.parse().expect("steps"),
            "dt" => dt = if v == "auto" { None } else { Some(v.parse().expect("dt")) },
            "disp" => disp = v.parse().expect("disp"),
            "seed" => seed = v.parse().expect("seed"),
            "ijkonet_iterations" => ijk_iterations = v.parse().expect("ijkonet_iterations"),
            "jkonet_epochs" => jkonet_epochs = v.parse().expect("jkonet_epochs"),
            "probe" => probe = v == "true" || v == "1",
            _ => user.push((k.to_string(), v.to_string())),
        }
    }
    println!(
        "unpaired 2-D, {n} particles per snapshot, {steps} steps, dt {}, 60/40 split, seed {seed}; \
         iJKOnet_V {ijk_iterations} iterations, JKOnet {jkonet_epochs} epochs; extra options {user:?}",
        dt.map_or(format!("auto (RMS displacement {disp} per step)"), |d| d.to_string())
    );
    let mut rows = Vec::new();
    for p in potentials {
        let rms = rms_gradient(p);
        // ∇V ≡ 0 (`flat`): nothing to scale by, the reference's 0.01.
        let step = dt.unwrap_or(if rms > 0.0 { disp / rms } else { 0.01 });
        // Explicit Euler with a large step can throw particles far out (ishigami at dt 0.15: W1 ≈ 1000
        // at the last step); halve the step until every particle stays within |x| ≤ 10 (start ±4).
        let (mut step, mut data) = (step, None);
        for _ in 0..10 {
            let sde = SdeConfig {
                potential: Some(p),
                n_particles: n,
                n_steps: steps,
                dt: step,
                seed,
                ..SdeConfig::default()
            };
            let d = generate(&sde)?;
            if d.snapshots.iter().all(|s| s.points.iter().all(|v| v.abs() <= 10.0)) {
                data = Some(d);
                break;
            }
            step *= 0.5;
        }
        let data = data.expect("a step size that keeps the particles bounded");
        let (train, test) = data.snapshots.split(0.4, seed)?;
        let signal = drift_signal(&train, seed)?;
        let moved = mean(&signal.iter().map(|s| s.0).collect::<Vec<_>>());
        let noise = mean(&signal.iter().map(|s| s.1).collect::<Vec<_>>());
        let per_step: Vec<String> = signal.iter().map(|(a, b)| format!("{a:.3}/{b:.3}")).collect();
        println!(
            "{}: RMS‖∇V‖ {rms:.3}, dt {step:.4}; per step W1 moved/noise {} (mean ratio {:.2})",
            p.name(),
            per_step.join(" "),
            moved / noise
        );
        let mut scores = Vec::new();
        for &(label, method) in METHODS.iter().filter(|m| !probe && methods.iter().any(|s| s == m.0)) {
            let mut config = TrainConfig::default();
            config.set("method", method)?;
            config.set("variant", "V")?;
            config.seed = seed;
            match method {
                "ijkonet" => config.iterations = ijk_iterations,
                "jkonet" => config.epochs = jkonet_epochs,
                _ => {}
            }
            for (k, v) in &user {
                config.set(k, v)?;
            }
            let (model, secs) = fit_timed(&config, &train, None)?;
            let (rel, cos) = grad_recovery(&model, &data.truth, &test)?;
            println!("  {label}: rel. L2 error {rel:.3}, mean cosine {cos:.3} ({secs:.1} s)");
            scores.push((label, rel, cos, secs));
        }
        rows.push((p.name(), step, moved, noise, scores));
    }
    if probe {
        return Ok(());
    }
    print!("\n| potential | dt | W1 moved / noise |");
    for m in &methods {
        print!(" {m} rel / cos |");
    }
    println!();
    println!("|---|---|---|{}", "---|".repeat(methods.len()));
    let mut totals = vec![(Vec::new(), Vec::new(), Vec::new()); methods.len()];
    for (name, step, moved, noise, scores) in &rows {
        print!("| {name} | {step:.4} | {moved:.2} / {noise:.2} |");
        for (i, (_, rel, cos, secs)) in scores.iter().enumerate() {
            totals[i].2.push(*secs);
            if cos.is_nan() {
                print!(" RMS‖∇V̂‖ {rel:.3} |");
                continue;
            }
            print!(" {rel:.3} / {cos:.3} |");
            totals[i].0.push(*rel);
            totals[i].1.push(*cos);
        }
        println!();
    }
    print!("| mean (median rel), ∇V ≢ 0 | | |");
    for (rel, cos, _) in &totals {
        let mut sorted = rel.clone();
        sorted.sort_by(f64::total_cmp);
        print!(" {:.3} ({:.3}) / {:.3} |", mean(rel), sorted[sorted.len() / 2], mean(cos));
    }
    println!();
    for (m, (_, _, secs)) in methods.iter().zip(&totals) {
        println!("{m}: {:.1} s per potential (training), {:.0} s in all", mean(secs), secs.iter().sum::<f64>());
    }
    Ok(())
}

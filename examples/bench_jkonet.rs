//! JKOnet benchmark: the reference's synthetic tasks (spec jkonet.md §9: quadratic, styblinski,
//! semicircle) and the EB 5-D Table 5 protocol of the iJKOnet paper. Every task is split 60/40 per
//! snapshot (seeded); the model trains on the 60 % and predicts one step from held-out snapshot k;
//! the exact W1 to held-out snapshot k+1 is reported per transition, next to the no-motion W1
//! (held-out k against held-out k+1) as the trivial baseline. Synthetic potentials also report the
//! cosine between the learned ∇V and the true one on held-out points.
//!
//! cargo run --release --example bench_jkonet -- task=quadratic|styblinski|semicircle|eb [epochs=N]
//!     [seeds=0,1,2] [device=cpu|cuda] [n=points per snapshot] [data=<dir of eb_pca5>]
//!     [eval_every=E] [budget_s=S] [diag=1] [key=value … any TrainConfig key]
//!
//! `budget_s` stops each seed's training after the first epoch that ends past S seconds (the
//! report then says how many epochs ran), so a run fits a time slot on an unknown machine.
//! `diag=1` adds, per transition, a longer prediction solve, an explicit Euler step with the
//! learned ∇V and the training loss of prediction, no motion and true drift (see `diagnose`).
//!
//! Defaults: the library's for method=jkonet (variant t,V, energy Adam lr 1e-2, β (0.9, 0.999),
//! clip 10, batch 100). The reference's training (spec §6.1) is `variant=V energy_lr=1e-3
//! energy_beta1=0.5 energy_beta2=0.9 batch_size=250`.

use ijkonet::config::TrainConfig;
use ijkonet::data::read_labelled_npy;
use ijkonet::methods;
use ijkonet::metrics::ot::w1;
use ijkonet::Snapshots;
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// Euler–Maruyama of dX = drift(X) dt + sd dB (elementwise drift), snapshots X_1..X_n (X_0 is not
/// observed, as in the reference loader), each particle simulated independently.
fn potential_task(
    n: usize,
    init_std: f64,
    drift: fn(f64) -> f64,
    dt: f64,
    sd: f64,
    snaps: usize,
    seed: u64,
) -> Snapshots {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut g = || -> f64 { StandardNormal.sample(&mut rng) };
    let mut x = Array2::from_shape_fn((n, 2), |_| init_std * g());
    let mut clouds = Vec::new();
    for _ in 0..snaps {
        x = x.mapv(|v| v + drift(v) * dt + sd * dt.sqrt() * g());
        clouds.push(x.clone());
    }
    Snapshots::new((1..=snaps).map(|k| k as f64 * dt).collect(), clouds).expect("valid snapshots")
}

/// The reference's semicircle: 50 points of radius 10 from (−10, 0) over the top to (10, 0), five
/// groups of 10; a snapshot is its group's points plus unit Gaussian noise, shared evenly.
fn semicircle(n: usize, seed: u64) -> Snapshots {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let curve: Vec<(f64, f64)> = (0..100)
        .map(|i| {
            let th = 2.0 * std::f64::consts::PI * (1.0 - i as f64 / 99.0);
            (10.0 * th.cos(), 10.0 * th.sin())
        })
        .filter(|p| p.1 >= 0.0)
        .collect();
    let groups: Vec<&[(f64, f64)]> = curve.chunks(curve.len().div_ceil(5)).collect();
    let clouds = groups
        .iter()
        .map(|grp| {
            Array2::from_shape_fn((n, 2), |(i, j)| {
                let p = grp[i % grp.len()];
                let noise: f64 = StandardNormal.sample(&mut rng);
                (if j == 0 { p.0 } else { p.1 }) + noise
            })
        })
        .collect();
    Snapshots::new((0..groups.len()).map(|k| k as f64).collect(), clouds).expect("valid snapshots")
}

fn quadratic_grad(x: f64) -> f64 {
    2.0 * x
}
fn styblinski_grad(x: f64) -> f64 {
    (3.0 * x.powi(3) - 32.0 * x + 5.0) / 2.0
}

/// Mean cosine between the learned and the true ∇V on the rows of `x`.
fn cosine(learned: ArrayView2<f64>, truth: ArrayView2<f64>) -> f64 {
    let rows = learned.outer_iter().zip(truth.outer_iter());
    let cos: Vec<f64> = rows.map(|(a, b)| a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt() + 1e-12)).collect();
    cos.iter().sum::<f64>() / cos.len() as f64
}

/// A synthetic task's dynamics: ∇V (elementwise), the step dt and the noise sd.
type Simulator = (fn(f64) -> f64, f64, f64);

fn round3(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 1000.0).round() / 1000.0).collect()
}

/// One-step W1 of the generating dynamics itself: one Euler–Maruyama step (drift −∇V, noise sd)
/// from held-out snapshot k against held-out snapshot k+1, and the same step without noise.
fn oracle_w1(
    test: &Snapshots,
    (grad, dt, sd): (fn(f64) -> f64, f64, f64),
    seed: u64,
) -> ijkonet::Result<(Vec<f64>, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(7000 + seed);
    let (mut noisy, mut drift) = (Vec::new(), Vec::new());
    for k in 0..test.len() - 1 {
        let x = &test.get(k).unwrap().points;
        let target = test.get(k + 1).unwrap().points.view();
        let moved = x.mapv(|v| v - grad(v) * dt);
        let shaken = moved.mapv(|v| {
            let e: f64 = StandardNormal.sample(&mut rng);
            v + sd * dt.sqrt() * e
        });
        noisy.push(w1(shaken.view(), target)?);
        drift.push(w1(moved.view(), target)?);
    }
    Ok((noisy, drift))
}

/// Mean distance each point moves from `x` to `y`.
fn mean_motion(x: ArrayView2<f64>, y: ArrayView2<f64>) -> f64 {
    (&y - &x).outer_iter().map(|r| r.dot(&r).sqrt()).sum::<f64>() / x.nrows() as f64
}

/// `diag=1`: separates the energy from the prediction solver. Per transition: the one-step W1 of
/// the default prediction, of a longer JKO solve with the same frozen energy, and of an explicit
/// Euler step x − Δt ∇V̂(x); next to each, the mean distance the points move (the true drift's for
/// comparison when the task is synthetic).
fn diagnose(model: &ijkonet::Model, test: &Snapshots, w: &[f64], simulator: Option<Simulator>) -> ijkonet::Result<()> {
    let times = test.times();
    for k in 0..test.len() - 1 {
        let x = test.get(k).unwrap().points.view();
        let target = test.get(k + 1).unwrap().points.view();
        let dt = times[k + 1] - times[k];
        let pred = model.push_forward(k, x)?;
        let opts = ijkonet::model::JkoStepOptions { iterations: 300, lr: 0.05, seed: 99 };
        let long = model.jko_step(x, times[k], dt, &opts)?;
        let euler = &x - &(model.grad_potential(x, times[k + 1])? * dt);
        let drift = simulator.map(|(g, dt, _)| x.mapv(|v| v - g(v) * dt));
        let truth = drift.as_ref().map_or(f64::NAN, |d| mean_motion(x, d.view()));
        // The training loss (debiased Sinkhorn at the configured ε, network coordinates) of the
        // prediction, of no motion and of the true drift: does the loss rank them as W1 does?
        let norm = model.normalisation();
        let eps = model.config().jkonet.epsilon;
        let opts = ijkonet::metrics::sinkhorn::SinkhornOptions { epsilon: eps, ..Default::default() };
        let s_eps = |a: ArrayView2<f64>| -> ijkonet::Result<f64> {
            let dev = tch::Device::Cpu;
            let (a, b) = (norm.to_model(a), norm.to_model(target));
            let (a, b) = (ijkonet::tensor::to_tensor(a.view(), dev), ijkonet::tensor::to_tensor(b.view(), dev));
            Ok(ijkonet::metrics::sinkhorn::sinkhorn_divergence(&a, &b, &opts)?.double_value(&[]))
        };
        let s_truth = drift.as_ref().map_or(Ok(f64::NAN), |d| s_eps(d.view()))?;
        println!(
            "  k={k}: S_ε={eps} model {:.4} | no motion {:.4} | true drift {s_truth:.4}",
            s_eps(pred.view())?,
            s_eps(x)?
        );
        println!(
            "  k={k}: W1 default {:.3} (moves {:.3}) | 300-step solve {:.3} (moves {:.3}) | explicit Euler {:.3} \
             (moves {:.3}) | true drift moves {truth:.3}",
            w[k],
            mean_motion(x, pred.view()),
            w1(long.view(), target)?,
            mean_motion(x, long.view()),
            w1(euler.view(), target)?,
            mean_motion(x, euler.view()),
        );
    }
    Ok(())
}

fn main() -> ijkonet::Result<()> {
    let mut config = TrainConfig { epochs: 20, ..TrainConfig::default() };
    config.set("method", "jkonet")?;
    let mut seeds = vec![0u64, 1, 2];
    let mut task = "quadratic".to_string();
    let mut n = 1000usize;
    let mut eval_every = 0usize;
    let mut budget: Option<f64> = None;
    let mut diag = false;
    let mut data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5");
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "seeds" => seeds = v.split(',').map(|s| s.parse().expect("seed")).collect(),
            "task" => task = v.to_string(),
            "n" => n = v.parse().expect("n"),
            "eval_every" => eval_every = v.parse().expect("eval_every"),
            "budget_s" => budget = Some(v.parse().expect("budget_s")),
            "data" => data_dir = PathBuf::from(v),
            "diag" => diag = v == "1" || v == "true",
            _ => config.set(k, v)?,
        }
    }
    let grad_truth: Option<fn(f64) -> f64> = match task.as_str() {
        "quadratic" => Some(quadratic_grad),
        "styblinski" => Some(styblinski_grad),
        _ => None,
    };
    let eb = if task == "eb" {
        Some(read_labelled_npy(data_dir.join("data.npy"), data_dir.join("sample_labels.npy"))?)
    } else {
        None
    };
    let jc = |k: &str| config.get(k).expect("key");
    println!(
        "JKOnet task {task}: {} epochs, batch {}, inner {} (unroll {}), outer {} ε {}, teacher forcing {}, \
         update {}, cvx_reg {}, device {:?}, threads setting {} (0: one on the CPU)",
        config.epochs,
        config.batch_size,
        jc("jkonet_inner_steps"),
        jc("jkonet_unroll"),
        jc("jkonet_outer"),
        jc("jkonet_epsilon"),
        jc("jkonet_teacher_forcing"),
        jc("jkonet_update"),
        jc("jkonet_cvx_reg"),
        config.device.resolve()?,
        config.threads
    );
    // The generator's own step (drift, dt, sd) for the synthetic potentials: the "true dynamics"
    // row says how low one-step W1 can go on held-out clouds of this size.
    let simulator: Option<Simulator> = match task.as_str() {
        "quadratic" => Some((quadratic_grad, 0.25, 0.2)),
        "styblinski" => Some((styblinski_grad, 0.06, 0.5)),
        _ => None,
    };
    let mut oracles: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let (mut per_seed, mut baselines, mut cosines, mut epoch_secs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &seed in &seeds {
        let data = match task.as_str() {
            // Reference: N(0, 50 I) start (its non-PSD covariance), drift −2x, dt 0.25, sd 0.2, 4 snapshots.
            "quadratic" => potential_task(n, 50f64.sqrt(), |v| -quadratic_grad(v), 0.25, 0.2, 4, 1000 + seed),
            // Reference: N(0, 0.5 I), drift −(3x³ − 32x + 5)/2, dt 0.06, sd 0.5, 6 snapshots.
            "styblinski" => potential_task(n, 0.5f64.sqrt(), |v| -styblinski_grad(v), 0.06, 0.5, 6, 1000 + seed),
            "semicircle" => semicircle(n, 1000 + seed),
            "eb" => eb.clone().expect("loaded"),
            other => panic!("unknown task '{other}': quadratic, styblinski, semicircle or eb"),
        };
        let (train, test) = data.split(0.4, seed)?;
        if let Some(sim) = simulator {
            oracles.push(oracle_w1(&test, sim, seed)?);
            println!(
                "seed {seed}: true dynamics one-step W1 (Euler–Maruyama from held-out k) {:?}, drift only {:?}",
                round3(&oracles.last().unwrap().0),
                round3(&oracles.last().unwrap().1)
            );
        }
        let mut c = config.clone();
        c.seed = seed;
        let start = Instant::now();
        let mut trainer = methods::trainer(&c, &train)?;
        let eval = (eval_every > 0).then_some((&test, eval_every));
        let trained = trainer.train(c.epochs, eval, &mut |p| {
            eprintln!(
                "  seed {seed} epoch {:>4}: outer {:.4} inner {:+.4}{}  ({:.1} s)",
                p.epoch,
                p.energy_loss,
                p.map_loss,
                p.metric.map_or(String::new(), |m| format!(" one-step W1 {m:.4}")),
                start.elapsed().as_secs_f64()
            );
            if budget.is_some_and(|b| start.elapsed().as_secs_f64() > b) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match trained {
            Err(e) if e.kind() != ijkonet::ErrorKind::Cancelled => return Err(e),
            _ => {}
        }
        let secs = start.elapsed().as_secs_f64();
        let epochs_run = trainer.model().epochs_done();
        let per_epoch = secs / epochs_run.max(1) as f64;
        let model = trainer.model();
        let w = model.one_step_w1(&test)?;
        let base: Vec<f64> = (0..test.len() - 1)
            .map(|k| w1(test.get(k).unwrap().points.view(), test.get(k + 1).unwrap().points.view()))
            .collect::<ijkonet::Result<_>>()?;
        if let Some(gt) = grad_truth {
            let mut cs = Vec::new();
            for k in 1..test.len() {
                let x = test.get(k).unwrap().points.view();
                let learned = model.grad_potential(x, test.times()[k])?;
                cs.push(cosine(learned.view(), x.mapv(gt).view()));
            }
            cosines.push(cs.iter().sum::<f64>() / cs.len() as f64);
        }
        if diag {
            diagnose(model, &test, &w, simulator)?;
        }
        let (m, s) = mean_std(&w);
        println!(
            "seed {seed}: one-step W1 {:?} mean {m:.3} ± {s:.3} (over steps); no-motion {:?}; {secs:.1} s, \
             {epochs_run} epochs, {per_epoch:.2} s/epoch ({} iterations/epoch){}",
            w.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
            base.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
            trainer.iterations_per_epoch(),
            cosines.last().filter(|_| grad_truth.is_some()).map_or(String::new(), |c| format!("; cos(∇V̂, ∇V) {c:.3}"))
        );
        per_seed.push(w);
        baselines.push(base);
        epoch_secs.push(per_epoch);
    }
    let steps = per_seed[0].len();
    let fmt_cols = |rows: &[Vec<f64>]| {
        (0..steps)
            .map(|k| {
                let (m, s) = mean_std(&rows.iter().map(|w| w[k]).collect::<Vec<_>>());
                format!("{m:.3} ± {s:.3}")
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!("one-step W1 per transition (mean ± std over {} seeds): {}", seeds.len(), fmt_cols(&per_seed));
    println!("no-motion W1 per transition:                     {}", fmt_cols(&baselines));
    let means: Vec<f64> = per_seed.iter().map(|w| w.iter().sum::<f64>() / w.len() as f64).collect();
    let (m, s) = mean_std(&means);
    let base_means: Vec<f64> = baselines.iter().map(|w| w.iter().sum::<f64>() / w.len() as f64).collect();
    println!("mean over transitions: {m:.3} ± {s:.3} (std over seeds); no-motion {:.3}", mean_std(&base_means).0);
    if !cosines.is_empty() {
        let (cm, cs) = mean_std(&cosines);
        println!("cos(learned ∇V, true ∇V) on held-out points: {cm:.3} ± {cs:.3}");
    }
    if !oracles.is_empty() {
        let noisy: Vec<Vec<f64>> = oracles.iter().map(|o| o.0.clone()).collect();
        let drift: Vec<Vec<f64>> = oracles.iter().map(|o| o.1.clone()).collect();
        let mean_of = |rows: &[Vec<f64>]| {
            mean_std(&rows.iter().map(|w| w.iter().sum::<f64>() / w.len() as f64).collect::<Vec<_>>())
        };
        println!("true dynamics W1 per transition:                 {}", fmt_cols(&noisy));
        println!("true drift, no noise, W1 per transition:         {}", fmt_cols(&drift));
        let (a, b) = (mean_of(&noisy), mean_of(&drift));
        println!("true dynamics mean {:.3} ± {:.3}; true drift only {:.3} ± {:.3}", a.0, a.1, b.0, b.1);
    }
    let (em, es) = mean_std(&epoch_secs);
    println!("seconds per epoch (incl. evaluation): {em:.2} ± {es:.2}");
    Ok(())
}

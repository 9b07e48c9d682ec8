//! Recovery of the diffusion coefficient θ₃ (the internal energy θ₃∫ρ log ρ, whose flow is
//! dX = −∇V dt + √(2θ₃) dB): 2-D synthetic data with a known β, variant `V+U` of
//! - iJKOnet (entropy of the pushed cloud = Kozachenko–Leonenko entropy of the data + E log det ∇T),
//! - JKOnet* (∇log ρ of each snapshot from a Gaussian mixture, `star_gmm_components`),
//! - the linear JKOnet* (closed form, same ∇log ρ),
//!
//! and the learned θ₃ in the data's units (`Model::theta3`) against the true β.
//!
//! Data: `synth::generate` with `beta`, U[−4,4]² start, `n` particles per snapshot, `steps` steps of
//! `dt`, unpaired by default (`pairing=paired` tracks one population, a control without the
//! sampling mismatch of unpaired snapshots), 60/40 split per snapshot; the data seed is the run's
//! seed. Per step the noise moves a particle by √(2β dt) per coordinate (printed).
//!
//! cargo run --release --example bench_theta3 -- [potentials=flat,watershed] [betas=0.1,0.5]
//!     [seeds=0,1] [n=2000] [steps=5] [dt=0.1] [pairing=unpaired|paired] [ijkonet_iterations=1000]
//!     [methods=ijkonet_VU,star_VU,star_linear_VU] [key=value … training options for every method]

mod common;

use common::{fmt_mean_std, key_value, mean, parse_seeds};
use ijkonet::config::TrainConfig;
use ijkonet::methods;
use ijkonet::synth::{generate, Pairing, Potential, SdeConfig};
use std::ops::ControlFlow;
use std::time::Instant;

const METHODS: [(&str, &str); 3] =
    [("ijkonet_VU", "ijkonet"), ("star_VU", "jkonet_star"), ("star_linear_VU", "jkonet_star_linear")];

fn main() -> ijkonet::Result<()> {
    let mut potentials = vec![Potential::Flat, Potential::Watershed];
    let mut betas = vec![0.1, 0.5];
    let mut seeds = vec![0u64, 1];
    let (mut n, mut steps, mut dt, mut pairing, mut ijk_iterations) =
        (2000usize, 5usize, 0.1f64, Pairing::Unpaired, 1000);
    let mut methods: Vec<String> = METHODS.iter().map(|m| m.0.to_string()).collect();
    let mut user: Vec<(String, String)> = Vec::new();
    for arg in std::env::args().skip(1) {
        let (k, v) = key_value(&arg);
        match k {
            "potentials" => potentials = v.split(',').map(|s| s.parse()).collect::<ijkonet::Result<_>>()?,
            "betas" => betas = v.split(',').map(|s| s.parse().expect("beta")).collect(),
            "seeds" => seeds = parse_seeds(v),
            "n" => n = v.parse().expect("n"),
            "steps" => steps = v.parse().expect("steps"),
            "dt" => dt = v.parse().expect("dt"),
            "pairing" => pairing = if v == "paired" { Pairing::Paired } else { Pairing::Unpaired },
            "ijkonet_iterations" => ijk_iterations = v.parse().expect("ijkonet_iterations"),
            "methods" => methods = v.split(',').map(String::from).collect(),
            _ => user.push((k.to_string(), v.to_string())),
        }
    }
    println!(
        "θ₃ recovery: 2-D, {pairing:?}, {n} particles per snapshot, {steps} steps of dt {dt}, 60/40 split; \
         iJKOnet {ijk_iterations} iterations; extra options {user:?}"
    );
    let mut table = Vec::new();
    for &p in &potentials {
        for &beta in &betas {
            println!("{} β {beta}: noise per step √(2β dt) = {:.3} per coordinate", p.name(), (2.0 * beta * dt).sqrt());
            let mut per_method = Vec::new();
            for &(label, method) in METHODS.iter().filter(|m| methods.iter().any(|s| s == m.0)) {
                let (mut thetas, mut secs) = (Vec::new(), Vec::new());
                for &seed in &seeds {
                    let sde = SdeConfig {
                        potential: Some(p),
                        beta,
                        dt,
                        n_steps: steps,
                        n_particles: n,
                        seed,
                        pairing,
                        ..SdeConfig::default()
                    };
                    let data = generate(&sde)?;
                    let (train, _) = match pairing {
                        Pairing::Paired => data.snapshots.split_paired(0.4, seed)?,
                        Pairing::Unpaired => data.snapshots.split(0.4, seed)?,
                    };
                    let mut config = TrainConfig::default();
                    config.set("method", method)?;
                    config.set("variant", "V+U")?;
                    config.seed = seed;
                    if method == "ijkonet" {
                        config.iterations = ijk_iterations;
                    }
                    for (k, v) in &user {
                        config.set(k, v)?;
                    }
                    let start = Instant::now();
                    let mut trainer = methods::trainer(&config, &train)?;
                    let initial = trainer.model().theta3();
                    trainer.train(config.epochs, None, &mut |_| ControlFlow::Continue(()))?;
                    let s = start.elapsed().as_secs_f64();
                    let theta = trainer.model().theta3();
                    println!(
                        "  {label} seed {seed}: θ₃ {theta:.4} (β {beta}, ratio {:.2}; {initial:.4} before training) {s:.1} s",
                        theta / beta
                    );
                    thetas.push(theta);
                    secs.push(s);
                }
                per_method.push((label, thetas, mean(&secs)));
            }
            table.push((p.name(), beta, per_method));
        }
    }
    print!("\n| potential | β |");
    for m in &methods {
        print!(" {m} θ₃ | θ₃/β |");
    }
    println!();
    println!("|---|---|{}", "---|---|".repeat(methods.len()));
    for (name, beta, per_method) in &table {
        print!("| {name} | {beta} |");
        for (_, thetas, _) in per_method {
            let ratios: Vec<f64> = thetas.iter().map(|t| t / beta).collect();
            print!(" {} | {} |", fmt_mean_std(thetas, 3), fmt_mean_std(&ratios, 2));
        }
        println!();
    }
    for (i, m) in methods.iter().enumerate() {
        let secs: Vec<f64> = table.iter().map(|r| r.2[i].2).collect();
        println!("{m}: {:.1} s per run (training)", mean(&secs));
    }
    Ok(())
}

//! Synthetic 2-D benchmark over the 15 potentials, unpaired: each snapshot is an independent
//! population (2000 particles, dt = 0.01, 5 steps, U[−4,4]² start), 60/40 split per snapshot.
//! Reports the one-step W1 on held-out data and the L2-UVP of the learned ∇V against the truth
//! (spec ijkonet.md §9: 100·τ²·E‖∇V̂ − ∇V‖²/Var(ρ_k) on held-out ρ_{k+1}, averaged over k).
//!
//! cargo run --release --example bench_synthetic -- [epochs=300] [potentials=all|name,name] [pairing=unpaired|paired] [key=value …]

use ijkonet::config::TrainConfig;
use ijkonet::methods;
use ijkonet::metrics::uvp::l2_uvp;
use ijkonet::synth::{generate, Pairing, Potential, SdeConfig};
use std::ops::ControlFlow;
use std::time::Instant;

fn main() -> ijkonet::Result<()> {
    let mut config = TrainConfig { epochs: 300, ..TrainConfig::default() };
    let mut potentials: Vec<Potential> = Potential::ALL.to_vec();
    let mut pairing = Pairing::Unpaired;
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "potentials" if v == "all" => {}
            "potentials" => potentials = v.split(',').map(|s| s.parse()).collect::<ijkonet::Result<_>>()?,
            "pairing" => pairing = if v == "paired" { Pairing::Paired } else { Pairing::Unpaired },
            _ => config.set(k, v)?,
        }
    }
    println!("iJKOnet_V, {} epochs, {:?}, device {:?}", config.epochs, pairing, config.device.resolve()?);
    println!("{:<16} {:>10} {:>10} {:>9} {:>8}", "potential", "W1 (mean)", "L2-UVP %", "time s", "ep/s");
    for p in potentials {
        let sde = SdeConfig { potential: Some(p), pairing, ..SdeConfig::default() };
        let data = generate(&sde)?;
        let (train, test) = data.snapshots.split(0.4, 0)?;
        let start = Instant::now();
        let mut trainer = methods::trainer(&config, &train)?;
        trainer.train(config.epochs, None, &mut |_| ControlFlow::Continue(()))?;
        let secs = start.elapsed().as_secs_f64();
        let model = trainer.model();
        let w1 = model.one_step_w1(&test)?;
        let mut uvp = Vec::new();
        for k in 0..test.len() - 1 {
            let y = test.get(k + 1).expect("k+1").points.view();
            let learned = model.grad_potential(y, test.times()[k + 1])?;
            let truth = data.truth.grad_potential(y);
            uvp.push(l2_uvp(learned.view(), truth.view(), sde.dt, test.get(k).expect("k").points.view())?);
        }
        println!(
            "{:<16} {:>10.4} {:>10.3} {:>9.1} {:>8.2}",
            p.name(),
            w1.iter().sum::<f64>() / w1.len() as f64,
            uvp.iter().sum::<f64>() / uvp.len() as f64,
            secs,
            config.epochs as f64 / secs
        );
    }
    Ok(())
}

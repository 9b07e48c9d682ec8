//! The README's main command (`make demo`): learn population dynamics from unpaired snapshots.
//!
//! 1. Generate a synthetic population driven by a known potential (each snapshot an independent
//!    population, as real measurements are), split each snapshot 60/40.
//! 2. Train iJKOnet_V on the 60 %, printing progress.
//! 3. Report, on the held-out 40 %: the one-step W1 of the predictions against a "nothing moves"
//!    baseline, and the L2-UVP of the learned ∇V against the true one.
//! 4. Summarise the real embryoid-body data (exact W1 between consecutive days).
//!
//! cargo run --release --example demo -- [potential=styblinski_tang] [epochs=200] [key=value …]

use ijkonet::data::read_labelled_npy;
use ijkonet::methods;
use ijkonet::metrics::ot::w1;
use ijkonet::metrics::uvp::l2_uvp;
use ijkonet::synth::{generate, Potential, SdeConfig};
use ijkonet::{Snapshots, TrainConfig};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

fn consecutive_w1(s: &Snapshots) -> ijkonet::Result<Vec<f64>> {
    (0..s.len() - 1).map(|k| w1(s.get(k).unwrap().points.view(), s.get(k + 1).unwrap().points.view())).collect()
}

fn fmt(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join("  ")
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn main() -> ijkonet::Result<()> {
    let mut potential = Potential::StyblinskiTang;
    let mut config = TrainConfig { epochs: 200, ..TrainConfig::default() };
    // The synthetic potential does not depend on time: V, not the real-data default t,V.
    config.set("variant", "V")?;
    for arg in std::env::args().skip(1) {
        let (k, v) = arg.split_once('=').expect("arguments are key=value");
        match k {
            "potential" => potential = v.parse()?,
            _ => config.set(k, v)?,
        }
    }
    let sde = SdeConfig { potential: Some(potential), ..SdeConfig::default() };
    let data = generate(&sde)?;
    let s = &data.snapshots;
    println!(
        "data: potential {}, {} unpaired snapshots of {} particles in {}-D, dt = {}",
        potential,
        s.len(),
        s.sizes()[0],
        s.dim(),
        sde.dt
    );
    println!("exact W1 between consecutive snapshots: {}", fmt(&consecutive_w1(s)?));

    let (train, test) = s.split(0.4, 0)?;
    println!(
        "\ntraining iJKOnet_{} on {:?} points per snapshot ({} epochs, device {:?})",
        config.energy.variant,
        train.sizes(),
        config.epochs,
        config.device.resolve()?
    );
    let start = Instant::now();
    let mut trainer = methods::trainer(&config, &train)?;
    let every = (config.epochs / 10).max(1);
    trainer.train(config.epochs, Some((&test, every)), &mut |p| {
        if let Some(m) = p.metric {
            println!(
                "  epoch {:>4}/{}  energy loss {:+.4}  map loss {:+.4}  held-out one-step W1 {m:.4}",
                p.epoch, p.epochs, p.energy_loss, p.map_loss
            );
        }
        ControlFlow::Continue(())
    })?;
    println!("trained in {:.1?}", start.elapsed());
    let model = trainer.model();

    let predicted = model.one_step_w1(&test)?;
    let baseline = consecutive_w1(&test)?;
    let mut uvp = Vec::new();
    for k in 0..test.len() - 1 {
        let y = test.get(k + 1).unwrap().points.view();
        let learned = model.grad_potential(y, test.times()[k + 1])?;
        uvp.push(l2_uvp(
            learned.view(),
            data.truth.grad_potential(y).view(),
            sde.dt,
            test.get(k).unwrap().points.view(),
        )?);
    }
    println!("\nheld-out one-step W1, per step k → k+1:");
    println!("  iJKOnet prediction T^k(ρ_k):  {}   mean {:.4}", fmt(&predicted), mean(&predicted));
    println!("  baseline (no motion, ρ_k):    {}   mean {:.4}", fmt(&baseline), mean(&baseline));
    println!("L2-UVP of the learned ∇V vs the true ∇V (%): {}   mean {:.3}", fmt(&uvp), mean(&uvp));
    let probe = ndarray::array![[0.0, 0.0], [2.0, -2.0], [-2.9, 2.9]];
    let g = model.grad_potential(probe.view(), 0.0)?;
    let t = data.truth.grad_potential(probe.view());
    println!("∇V at a few points (learned | true):");
    for i in 0..probe.nrows() {
        println!(
            "  x = ({:+.1}, {:+.1}):  ({:+8.3}, {:+8.3}) | ({:+8.3}, {:+8.3})",
            probe[[i, 0]],
            probe[[i, 1]],
            g[[i, 0]],
            g[[i, 1]],
            t[[i, 0]],
            t[[i, 1]]
        );
    }

    let eb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5");
    match read_labelled_npy(eb.join("data.npy"), eb.join("sample_labels.npy")) {
        Ok(s) => {
            println!("\nembryoid body (5 PCs), cells per day-range snapshot {:?}", s.sizes());
            println!("exact W1 between consecutive snapshots: {}", fmt(&consecutive_w1(&s)?));
        }
        Err(e) => println!("\n(skipping the EB data: {e})"),
    }
    Ok(())
}

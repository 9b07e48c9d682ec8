//! The README's main command (`make demo`): generate an unpaired synthetic population, summarise it,
//! and measure how far consecutive snapshots are apart (exact W1), for the synthetic data and for the
//! real embryoid-body data. Later versions train a model here.

use ijkonet::data::read_labelled_npy;
use ijkonet::metrics::ot::w1;
use ijkonet::synth::generator::{generate, SdeConfig};
use ijkonet::synth::potentials::Potential;
use ijkonet::Snapshots;
use std::path::Path;
use std::time::Instant;

fn summarise(title: &str, s: &Snapshots) -> ijkonet::Result<()> {
    println!("\n== {title}: {} snapshots, d = {}", s.len(), s.dim());
    println!("{:>4} {:>10} {:>7} {:>30} {:>12}", "k", "time", "n", "mean (first 2 coords)", "W1 to next");
    for k in 0..s.len() {
        let snap = s.get(k).expect("index in range");
        let mean = snap.points.mean_axis(ndarray::Axis(0)).expect("non-empty");
        let shown: Vec<String> = mean.iter().take(2).map(|v| format!("{v:+.3}")).collect();
        let dist = match s.get(k + 1) {
            Some(next) => format!("{:.4}", w1(snap.points.view(), next.points.view())?),
            None => "-".into(),
        };
        println!("{k:>4} {:>10.3} {:>7} {:>30} {:>12}", snap.time, snap.len(), shown.join(", "), dist);
    }
    Ok(())
}

fn main() -> ijkonet::Result<()> {
    let config = SdeConfig { potential: Some(Potential::WavyPlateau), n_particles: 2000, ..SdeConfig::default() };
    let t0 = Instant::now();
    let data = generate(&config)?;
    println!(
        "generated {:?} ({:?}, beta = {}, dt = {}) in {:.2?}",
        config.potential.map(|p| p.name()),
        config.pairing,
        config.beta,
        config.dt,
        t0.elapsed()
    );
    summarise("synthetic wavy_plateau, unpaired", &data.snapshots)?;

    let eb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5");
    match read_labelled_npy(eb.join("data.npy"), eb.join("sample_labels.npy")) {
        Ok(s) => summarise("embryoid body, 5 PCs (labels 0..4 = days 0-3 .. 24-27)", &s)?,
        Err(e) => println!("\n(skipping the EB data: {e})"),
    }
    Ok(())
}

//! `ijkonet generate`: synthetic snapshots of a known SDE and their ground truth.

use crate::args::GenerateArgs;
use crate::files::{sidecar, write_truth, TRUTH_SUFFIX};
use ijkonet::data::write_npz;
use ijkonet::synth::{generate, Interaction, Pairing, Potential, SdeConfig};
use ijkonet::Result;

pub fn cmd_generate(a: GenerateArgs) -> Result<()> {
    let potential = if a.potential == "none" { None } else { Some(a.potential.parse::<Potential>()?) };
    let interaction = a
        .interaction
        .as_deref()
        .map(|n| n.parse::<Potential>().map(|kernel| Interaction { kernel, symmetrised: a.symmetrised }))
        .transpose()?;
    let config = SdeConfig {
        potential,
        interaction,
        beta: a.beta,
        dt: a.dt,
        n_steps: a.steps,
        n_particles: a.particles,
        dim: a.dim,
        seed: a.seed,
        pairing: if a.paired { Pairing::Paired } else { Pairing::Unpaired },
        ..SdeConfig::default()
    };
    let data = generate(&config)?;
    write_npz(&a.output, &data.snapshots)?;
    let truth_path = sidecar(&a.output, TRUTH_SUFFIX);
    write_truth(&truth_path, &data.truth)?;
    println!(
        "wrote {} ({} snapshots × {} particles, dimension {}, {}) and {}",
        a.output.display(),
        data.snapshots.len(),
        a.particles,
        a.dim,
        if a.paired { "paired" } else { "unpaired" },
        truth_path.display()
    );
    Ok(())
}

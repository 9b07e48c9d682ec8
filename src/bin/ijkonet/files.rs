//! Files next to the data and the model (the ground truth of `generate`, the training history of
//! `train`), and writing outputs.

use ijkonet::synth::{GroundTruth, Interaction, Potential};
use ijkonet::{Error, Result};
use ndarray_npy::WriteNpyExt;
use std::path::{Path, PathBuf};

/// `<path><suffix>`, e.g. `data.npz` → `data.npz.truth.txt`.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Sidecar of `generate`'s data: the ground truth (potential, interaction, β, dt).
pub const TRUTH_SUFFIX: &str = ".truth.txt";
/// Sidecar of `train`'s model: the per-epoch losses and validation scores.
pub const HISTORY_SUFFIX: &str = ".history.csv";

pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
}

pub fn write_truth(path: &Path, truth: &GroundTruth) -> Result<()> {
    let name = |p: Option<Potential>| p.map_or("none", |p| p.name());
    let text = format!(
        "# ground truth of the synthetic data in the file this one is named after (ijkonet generate)\n\
         potential={}\ninteraction={}\nsymmetrised={}\nbeta={}\ndt={}\n",
        name(truth.potential),
        name(truth.interaction.map(|i| i.kernel)),
        truth.interaction.is_some_and(|i| i.symmetrised),
        truth.beta,
        truth.dt
    );
    write_text(path, &text)
}

/// The ground truth stored next to a data file by `generate`, if there is one.
pub fn read_truth(data: &Path) -> Result<Option<GroundTruth>> {
    let path = sidecar(data, TRUTH_SUFFIX);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let bad = |m: String| Error::format(format!("{}: {m}", path.display()));
    let mut truth = GroundTruth { potential: None, interaction: None, beta: 0.0, dt: 0.0 };
    let mut symmetrised = false;
    let potential = |v: &str| if v == "none" { Ok(None) } else { v.parse::<Potential>().map(Some) };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (k, v) = line.split_once('=').ok_or_else(|| bad(format!("line '{line}' is not key=value")))?;
        let number = || v.parse::<f64>().map_err(|_| bad(format!("'{k}' is not a number: '{v}'")));
        match k {
            "potential" => truth.potential = potential(v).map_err(|e| bad(e.message().into()))?,
            "interaction" => {
                truth.interaction = potential(v)
                    .map_err(|e| bad(e.message().into()))?
                    .map(|kernel| Interaction { kernel, symmetrised: false })
            }
            "symmetrised" => symmetrised = v == "true",
            "beta" => truth.beta = number()?,
            "dt" => truth.dt = number()?,
            _ => return Err(bad(format!("unknown key '{k}'"))),
        }
    }
    if let Some(i) = truth.interaction.as_mut() {
        i.symmetrised = symmetrised;
    }
    Ok(Some(truth))
}

/// The extension in lower case (`""` when there is none).
pub fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

/// An array as .npy.
pub fn write_npy(path: &Path, x: &impl WriteNpyExt) -> Result<()> {
    ndarray_npy::write_npy(path, x).map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))
}

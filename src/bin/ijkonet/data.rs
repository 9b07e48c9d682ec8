//! Snapshot data from the command line's data flags (.npz, .npy with labels, .csv, .h5ad), optionally
//! split, and their fit to a model.

use crate::args::{DataArgs, SplitArgs};
use crate::files::extension;
use ijkonet::data::h5ad::parse_time_values;
use ijkonet::data::{read_csv, read_h5ad, read_labelled_npy, read_npz, CsvOptions, H5adOptions, LabelColumn, Matrix};
use ijkonet::{Error, Model, Result, Snapshots};

pub fn load_data(a: &DataArgs) -> Result<Snapshots> {
    let path = &a.data;
    let ext = extension(path);
    if a.labels.is_some() && ext != "npy" {
        return Err(Error::invalid_argument("--labels applies only to .npy data"));
    }
    if a.label_column.is_some() && ext != "csv" {
        return Err(Error::invalid_argument("--label-column applies only to .csv data"));
    }
    let h5ad_flags = [
        (a.time_key.is_some(), "--time-key"),
        (a.obsm.is_some(), "--obsm"),
        (a.layer.is_some(), "--layer"),
        (a.time_values.is_some(), "--time-values"),
    ];
    if let Some((_, flag)) = h5ad_flags.iter().find(|(set, _)| *set && ext != "h5ad") {
        return Err(Error::invalid_argument(format!("{flag} applies only to .h5ad data")));
    }
    match ext.as_str() {
        "h5ad" => {
            let time_key = a.time_key.clone().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{}: .h5ad data need the obs column of the times: --time-key COLUMN",
                    path.display()
                ))
            })?;
            let matrix = match (&a.obsm, &a.layer) {
                (Some(k), _) => Matrix::Obsm(k.clone()),
                (_, Some(l)) => Matrix::Layer(l.clone()),
                _ => Matrix::X,
            };
            let time_values = a.time_values.as_deref().map(parse_time_values).transpose()?;
            read_h5ad(path, &H5adOptions { matrix, time_key, time_values })
        }
        "npz" => read_npz(path),
        "npy" => {
            let labels = a.labels.as_ref().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{}: .npy data need per-row time labels: --labels FILE.npy",
                    path.display()
                ))
            })?;
            read_labelled_npy(path, labels)
        }
        "csv" => {
            let label = match a.label_column.as_deref() {
                None => LabelColumn::Last,
                Some(c) => c.parse::<usize>().map_or_else(|_| LabelColumn::Name(c.to_string()), LabelColumn::Index),
            };
            read_csv(path, &CsvOptions { label, ..CsvOptions::default() })
        }
        _ => Err(Error::invalid_argument(format!(
            "{}: unknown data format (expected .npz, .npy with --labels, .csv, or .h5ad with --time-key)",
            path.display()
        ))),
    }
}

/// The data, or its held-out part when a test fraction is given.
pub fn load_split(data: &DataArgs, split: &SplitArgs) -> Result<Snapshots> {
    let s = load_data(data)?;
    if split.test_fraction == 0.0 {
        return Ok(s);
    }
    Ok(s.split(split.test_fraction, split.seed)?.1)
}

pub fn check_compatible(model: &Model, data: &Snapshots) -> Result<()> {
    if data.len() != model.times().len() || data.dim() != model.dim() {
        return Err(Error::invalid_argument(format!(
            "the data have {} snapshots of dimension {}, the model expects {} of dimension {}",
            data.len(),
            data.dim(),
            model.times().len(),
            model.dim()
        )));
    }
    Ok(())
}

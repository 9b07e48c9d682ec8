//! `ijkonet potential` and `ijkonet grad`: V or ∇V at given points.

use crate::args::QueryArgs;
use crate::files::{extension, write_npy, write_text};
use ijkonet::data::read_npy_matrix;
use ijkonet::{DeviceSpec, Error, Model, Result};
use ndarray::{Array2, Axis};
use std::path::Path;

/// Points of a query: .npy (n × d) or .csv (numeric columns; a non-numeric first line is a header).
fn read_points(path: &Path) -> Result<Array2<f64>> {
    if extension(path) != "csv" {
        return read_npy_matrix(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parsed: std::result::Result<Vec<f64>, _> = line.split(',').map(|v| v.trim().parse::<f64>()).collect();
        match parsed {
            Ok(r) => rows.push(r),
            Err(_) if rows.is_empty() && i == 0 => continue,
            Err(_) => return Err(Error::invalid_data(format!("{}: line {} is not numeric", path.display(), i + 1))),
        }
    }
    let d = rows.first().map_or(0, Vec::len);
    if d == 0 || rows.iter().any(|r| r.len() != d) {
        return Err(Error::invalid_data(format!("{}: need rows of equally many numeric columns", path.display())));
    }
    let n = rows.len();
    Array2::from_shape_vec((n, d), rows.concat()).map_err(|e| Error::internal(e.to_string()))
}

pub fn cmd_query(a: QueryArgs, device: Option<DeviceSpec>, gradient: bool) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let x = read_points(&a.points)?;
    let t = a.time.unwrap_or(model.times()[0]);
    let out =
        if gradient { model.grad_potential(x.view(), t)? } else { model.potential(x.view(), t)?.insert_axis(Axis(1)) };
    if let Some(bad) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::numerical(format!(
            "the result at point {} is not finite (far outside the training data?)",
            bad / out.ncols()
        )));
    }
    match &a.output {
        Some(path) if extension(path) == "npy" => {
            if gradient {
                write_npy(path, &out)?
            } else {
                write_npy(path, &out.column(0))?
            }
        }
        Some(path) => write_text(path, &csv_rows(&out))?,
        None => print!("{}", csv_rows(&out)),
    }
    if let Some(path) = &a.output {
        eprintln!("wrote {} ({} × {})", path.display(), out.nrows(), out.ncols());
    }
    Ok(())
}

/// Rows as CSV lines (shortest round-trip float formatting).
fn csv_rows(x: &Array2<f64>) -> String {
    let mut s = String::new();
    for row in x.outer_iter() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

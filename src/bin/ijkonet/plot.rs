//! `ijkonet plot`: PNG figures of the learned (and true) potential, data against predictions, and the
//! training curves.

use crate::args::PlotArgs;
use crate::data::{check_compatible, load_split};
use crate::files::{read_truth, sidecar, HISTORY_SUFFIX};
use ijkonet::plot::{self, Cloud, Grid, Series};
use ijkonet::synth::GroundTruth;
use ijkonet::{DeviceSpec, Error, Model, Result, Snapshots};
use ndarray::{Array2, Axis};
use plotters::style::{BLUE, RED};
use std::path::Path;

/// The first two coordinates (a 1-D cloud gets a zero second coordinate).
fn plane(x: &Array2<f64>) -> Array2<f64> {
    if x.ncols() >= 2 {
        x.slice(ndarray::s![.., 0..2]).to_owned()
    } else {
        let mut out = Array2::zeros((x.nrows(), 2));
        out.column_mut(0).assign(&x.column(0));
        out
    }
}

/// Learned (and true) potential over the data's range of the first two coordinates, the other
/// coordinates held at the data mean.
fn plot_potential(model: &Model, data: &Snapshots, truth: Option<&GroundTruth>, n: usize, path: &Path) -> Result<()> {
    let views: Vec<_> = data.iter().map(|s| s.points.view()).collect();
    let all = ndarray::concatenate(Axis(0), &views).expect("common dimension");
    let centre = all.mean_axis(Axis(0)).expect("non-empty data");
    let range = |c: usize| {
        let (lo, hi) = all.column(c).iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        let pad = 0.05 * (hi - lo).max(1e-9);
        (lo - pad, hi + pad)
    };
    let t = model.times()[0];
    let d = model.dim();
    // Embed plane points into the full space at the data mean.
    let embed = |p: ndarray::ArrayView2<f64>| {
        let mut x = Array2::from_shape_fn((p.nrows(), d), |(_, j)| centre[j]);
        for (mut row, q) in x.rows_mut().into_iter().zip(p.rows()) {
            for j in 0..d.min(2) {
                row[j] = q[j];
            }
        }
        x
    };
    let true_name = truth.and_then(|t| t.potential).map(|p| p.name());
    if d == 1 {
        let (lo, hi) = range(0);
        let xs = Array2::from_shape_fn((n.max(2), 1), |(i, _)| lo + (hi - lo) * i as f64 / (n.max(2) - 1) as f64);
        let shifted = |v: Vec<f64>| {
            let m = v.iter().copied().fold(f64::INFINITY, f64::min);
            xs.column(0).iter().zip(v).map(|(&x, y)| (x, y - m)).collect::<Vec<_>>()
        };
        let mut series = vec![Series { points: shifted(model.potential(xs.view(), t)?.to_vec()), colour: RED }];
        let mut title = "V(x) − min: learned (red)".to_string();
        if let (Some(name), Some(gt)) = (true_name, truth) {
            series.push(Series { points: shifted(gt.potential_values(xs.view()).to_vec()), colour: BLUE });
            title.push_str(&format!(", true {name} (blue)"));
        }
        return plot::line_panels(path, &[(title, series)]);
    }
    let (nx, ny) = (n, n);
    let learned = Grid::evaluate(range(0), range(1), (nx, ny), |p| Ok(model.potential(embed(p).view(), t)?.to_vec()))?;
    let rest = match d {
        2 => String::new(),
        3 => ", x3 at its mean".to_string(),
        _ => format!(", x3..x{d} at their means"),
    };
    let mut panels = vec![(format!("learned V(x1, x2{rest})"), learned)];
    if let (Some(name), Some(gt)) = (true_name, truth) {
        let grid = Grid::evaluate(range(0), range(1), (nx, ny), |p| Ok(gt.potential_values(embed(p).view()).to_vec()))?;
        panels.push((format!("true V: {name}"), grid));
    }
    plot::level_curves(path, &panels, 12)
}

fn plot_snapshots(model: &Model, data: &Snapshots, path: &Path) -> Result<()> {
    let panels = (0..data.len() - 1)
        .map(|k| {
            let source = &data.get(k).expect("k").points;
            let target = &data.get(k + 1).expect("k + 1").points;
            let pred = model.push_forward(k, source.view())?;
            Ok((
                format!("t = {:.4}: data (blue), predicted (red)", data.times()[k + 1]),
                vec![Cloud { points: plane(target), colour: BLUE }, Cloud { points: plane(&pred), colour: RED }],
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    plot::scatter_panels(path, &panels)
}

/// Training curves from the history sidecar; false when there is none.
fn plot_history(model_path: &Path, path: &Path) -> Result<bool> {
    let history = sidecar(model_path, HISTORY_SUFFIX);
    let Ok(text) = std::fs::read_to_string(&history) else { return Ok(false) };
    let bad = |line: usize| Error::format(format!("{}: line {line} is malformed", history.display()));
    let mut columns: [Vec<(f64, f64)>; 4] = Default::default();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        // Four columns before the validation score was recorded, five since.
        if fields.len() != 4 && fields.len() != 5 {
            return Err(bad(i + 1));
        }
        let epoch: f64 = fields[0].parse().map_err(|_| bad(i + 1))?;
        for (c, f) in fields[1..].iter().enumerate() {
            if !f.is_empty() {
                columns[c].push((epoch, f.parse().map_err(|_| bad(i + 1))?));
            }
        }
    }
    let titles = ["energy loss", "map loss", "held-out one-step W1", "validation one-step W1"];
    let panels: Vec<(String, Vec<Series>)> = titles
        .iter()
        .zip(columns)
        .filter(|(_, points)| !points.is_empty())
        .map(|(title, points)| (format!("{title} vs epoch"), vec![Series { points, colour: BLUE }]))
        .collect();
    if panels.is_empty() {
        return Ok(false);
    }
    plot::line_panels(path, &panels)?;
    Ok(true)
}

pub fn cmd_plot(a: PlotArgs, device: Option<DeviceSpec>) -> Result<()> {
    if a.grid < 2 || a.grid > 1000 {
        return Err(Error::invalid_argument(format!("--grid must lie in 2..=1000, got {}", a.grid)));
    }
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let data = load_split(&a.data, &a.split)?;
    check_compatible(&model, &data)?;
    let truth = read_truth(&a.data.data)?;
    std::fs::create_dir_all(&a.output)
        .map_err(|e| Error::io(format!("cannot create directory {}: {e}", a.output.display())))?;
    let mut written = Vec::new();
    if model.config().energy.variant.potential {
        let path = a.output.join("potential.png");
        plot_potential(&model, &data, truth.as_ref(), a.grid, &path)?;
        written.push(path);
    } else {
        eprintln!("note: the model has no potential term; potential.png skipped");
    }
    let path = a.output.join("snapshots.png");
    plot_snapshots(&model, &data, &path)?;
    written.push(path);
    let path = a.output.join("training.png");
    if plot_history(&a.model, &path)? {
        written.push(path);
    } else {
        eprintln!("note: no training history next to the model; training.png skipped");
    }
    if !plot::has_font() {
        eprintln!("note: no TrueType font found (set IJKONET_FONT); figures have no text");
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}

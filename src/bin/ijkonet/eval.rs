//! `ijkonet eval`, and the per-step metrics of one-step predictions that `train` reports as well.

use crate::args::EvalArgs;
use crate::data::{check_compatible, load_split};
use crate::files::read_truth;
use crate::report::{json_report, print_table};
use ijkonet::baselines::Baseline;
use ijkonet::metrics::{
    bures::bw_uvp,
    mmd, ot,
    uvp::{l2_uvp, mean_cosine, relative_l2_error},
};
use ijkonet::synth::GroundTruth;
use ijkonet::{DeviceSpec, Model, Result, Snapshots};
use std::io::Write;

/// Metrics of the one-step prediction T^k(ρ_k) against ρ_{k+1}.
pub struct StepMetrics {
    pub t_from: f64,
    pub t_to: f64,
    pub w1: f64,
    pub w2: f64,
    pub mmd: f64,
    pub bw_uvp: f64,
    /// W1(ρ_k, ρ_{k+1}): what predicting "nothing moves" scores.
    pub baseline_w1: f64,
    /// W1 of the mean-shift and affine Gaussian OT predictions fitted on the training snapshots
    /// (None for models saved before the baselines were stored).
    pub mean_shift_w1: Option<f64>,
    pub affine_w1: Option<f64>,
    /// L2-UVP (%) of the learned ∇V on ρ_{k+1} against the truth, when the truth is known.
    pub l2_uvp: Option<f64>,
    /// ‖∇V̂ − ∇V‖/‖∇V‖ and the mean cosine between ∇V̂ and ∇V on ρ_{k+1}: unlike L2-UVP, these
    /// carry no τ² factor, so a field pointing the wrong way cannot score well.
    pub grad_rel_l2: Option<f64>,
    pub grad_cosine: Option<f64>,
}

pub fn evaluate(model: &Model, data: &Snapshots, truth: Option<&GroundTruth>) -> Result<Vec<StepMetrics>> {
    check_compatible(model, data)?;
    let times = data.times();
    let with_truth = truth.filter(|t| t.potential.is_some() && model.config().energy.variant.potential);
    (0..data.len() - 1)
        .map(|k| {
            let source = data.get(k).expect("k in range").points.view();
            let target = data.get(k + 1).expect("k + 1 in range").points.view();
            let pred = model.push_forward(k, source)?;
            let baseline = |kind: Baseline| -> Result<Option<f64>> {
                match model.baselines() {
                    Some(b) => Ok(Some(ot::evaluation_w1(b.predict(kind, k, source)?.view(), target)?.value)),
                    None => Ok(None),
                }
            };
            let (l2, rel, cos) = match with_truth {
                Some(t) => {
                    let learned = model.grad_potential(target, times[k + 1])?;
                    let truth = t.grad_potential(target);
                    (
                        Some(l2_uvp(learned.view(), truth.view(), times[k + 1] - times[k], source)?),
                        Some(relative_l2_error(learned.view(), truth.view())?.sqrt()),
                        Some(mean_cosine(learned.view(), truth.view())?),
                    )
                }
                None => (None, None, None),
            };
            Ok(StepMetrics {
                t_from: times[k],
                t_to: times[k + 1],
                w1: ot::evaluation_w1(pred.view(), target)?.value,
                w2: ot::w2(pred.view(), target)?,
                mmd: mmd::mmd(pred.view(), target, mmd::Bandwidth::Median)?,
                bw_uvp: bw_uvp(pred.view(), target)?,
                baseline_w1: ot::evaluation_w1(source, target)?.value,
                mean_shift_w1: baseline(Baseline::MeanShift)?,
                affine_w1: baseline(Baseline::AffineOt)?,
                l2_uvp: l2,
                grad_rel_l2: rel,
                grad_cosine: cos,
            })
        })
        .collect()
}

pub fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

/// The mean of an optional per-step value, when every step has it.
pub fn mean_opt(rows: &[StepMetrics], f: impl Fn(&StepMetrics) -> Option<f64>) -> Option<f64> {
    rows.iter().all(|r| f(r).is_some()).then(|| mean(rows.iter().filter_map(&f)))
}

/// The naive prediction with the lowest mean W1 on these rows, and that W1.
pub fn best_baseline(rows: &[StepMetrics]) -> (Baseline, f64) {
    [
        (Baseline::NoMotion, Some(mean(rows.iter().map(|r| r.baseline_w1)))),
        (Baseline::MeanShift, mean_opt(rows, |r| r.mean_shift_w1)),
        (Baseline::AffineOt, mean_opt(rows, |r| r.affine_w1)),
    ]
    .into_iter()
    .filter_map(|(n, v)| v.map(|v| (n, v)))
    .fold((Baseline::NoMotion, f64::INFINITY), |best, c| if c.1 < best.1 { c } else { best })
}

pub fn cmd_eval(a: EvalArgs, device: Option<DeviceSpec>) -> Result<()> {
    let model = Model::load(&a.model, device)?;
    model.apply_threads();
    let data = load_split(&a.data, &a.split)?;
    let truth = read_truth(&a.data.data)?;
    let rows = evaluate(&model, &data, truth.as_ref())?;
    if a.json {
        println!("{}", json_report(&a.model, &a.data.data, &rows));
    } else {
        println!("one-step predictions T^k(ρ_k) vs ρ_(k+1) on {}:", a.data.data.display());
        print_table(&rows);
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

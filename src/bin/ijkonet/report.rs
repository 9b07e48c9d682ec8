//! The metrics of `eval` and `train` as a text table or as JSON.

use crate::eval::{best_baseline, mean, mean_opt, StepMetrics};
use ijkonet::baselines::Baseline;
use std::path::Path;

pub fn print_table(rows: &[StepMetrics]) {
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    println!(
        "{:>4} {:>21} {:>9} {:>9} {:>9} {:>9} {:>9} | {:>9} {:>10} {:>9}",
        "step", "time", "W1", "W2", "MMD", "BW-UVP%", "L2-UVP%", "no motion", "mean shift", "affine OT"
    );
    for (k, r) in rows.iter().enumerate() {
        println!(
            "{k:>4} {:>21} {:>9.4} {:>9.4} {:>9.4} {:>9.3} {:>9} | {:>9.4} {:>10} {:>9}",
            format!("{:.4} → {:.4}", r.t_from, r.t_to),
            r.w1,
            r.w2,
            r.mmd,
            r.bw_uvp,
            opt(r.l2_uvp, 3),
            r.baseline_w1,
            opt(r.mean_shift_w1, 4),
            opt(r.affine_w1, 4)
        );
    }
    let model_w1 = mean(rows.iter().map(|r| r.w1));
    println!(
        "{:>4} {:>21} {:>9.4} {:>9.4} {:>9.4} {:>9.3} {:>9} | {:>9.4} {:>10} {:>9}",
        "mean",
        "",
        model_w1,
        mean(rows.iter().map(|r| r.w2)),
        mean(rows.iter().map(|r| r.mmd)),
        mean(rows.iter().map(|r| r.bw_uvp)),
        opt(mean_opt(rows, |r| r.l2_uvp), 3),
        mean(rows.iter().map(|r| r.baseline_w1)),
        opt(mean_opt(rows, |r| r.mean_shift_w1), 4),
        opt(mean_opt(rows, |r| r.affine_w1), 4)
    );
    if rows.iter().all(|r| r.grad_cosine.is_some()) {
        println!("learned ∇V against the true ∇V on ρ_(k+1):");
        println!("{:>4} {:>9} {:>12} {:>12}", "step", "L2-UVP%", "rel. error", "mean cosine");
        for (k, r) in rows.iter().enumerate() {
            println!("{k:>4} {:>9} {:>12} {:>12}", opt(r.l2_uvp, 3), opt(r.grad_rel_l2, 4), opt(r.grad_cosine, 4));
        }
        println!(
            "{:>4} {:>9} {:>12} {:>12}",
            "mean",
            opt(mean_opt(rows, |r| r.l2_uvp), 3),
            opt(mean_opt(rows, |r| r.grad_rel_l2), 4),
            opt(mean_opt(rows, |r| r.grad_cosine), 4)
        );
    }
    let (kind, best) = best_baseline(rows);
    let verdict = if model_w1 < best { "beats" } else { "does NOT beat" };
    println!(
        "model mean W1 {model_w1:.4} {verdict} the best naive prediction ({} {best:.4}): ratio {:.3}",
        baseline_label(kind),
        model_w1 / best
    );
}

/// How the tables name a baseline.
fn baseline_label(b: Baseline) -> &'static str {
    match b {
        Baseline::NoMotion => "no motion",
        Baseline::MeanShift => "mean shift",
        Baseline::AffineOt => "affine OT",
    }
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn json_report(model_path: &Path, data_path: &Path, rows: &[StepMetrics]) -> String {
    let opt = |v: Option<f64>| v.map_or("null".to_string(), json_number);
    let steps: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            format!(
                "{{\"step\": {k}, \"t_from\": {}, \"t_to\": {}, \"w1\": {}, \"w2\": {}, \"mmd\": {}, \"bw_uvp\": {}, \
                 \"l2_uvp\": {}, \"grad_rel_l2\": {}, \"grad_cosine\": {}, \"baseline_w1\": {}, \"baselines\": \
                 {{\"no_motion\": {}, \"mean_shift\": {}, \"affine_ot\": {}}}}}",
                json_number(r.t_from),
                json_number(r.t_to),
                json_number(r.w1),
                json_number(r.w2),
                json_number(r.mmd),
                json_number(r.bw_uvp),
                opt(r.l2_uvp),
                opt(r.grad_rel_l2),
                opt(r.grad_cosine),
                json_number(r.baseline_w1),
                json_number(r.baseline_w1),
                opt(r.mean_shift_w1),
                opt(r.affine_w1)
            )
        })
        .collect();
    let l2_mean = mean_opt(rows, |r| r.l2_uvp);
    let (best_name, best) = best_baseline(rows);
    format!(
        "{{\n  \"model\": {},\n  \"data\": {},\n  \"steps\": [\n    {}\n  ],\n  \"mean\": {{\"w1\": {}, \"w2\": {}, \"mmd\": {}, \
         \"bw_uvp\": {}, \"l2_uvp\": {}, \"grad_rel_l2\": {}, \"grad_cosine\": {}, \"baseline_w1\": {}, \
         \"baselines\": {{\"no_motion\": {}, \"mean_shift\": {}, \"affine_ot\": {}}}}},\n  \"best_baseline\": {{\"name\": {}, \"w1\": {}}},\n  \"beats_best_baseline\": {}\n}}",
        json_string(&model_path.display().to_string()),
        json_string(&data_path.display().to_string()),
        steps.join(",\n    "),
        json_number(mean(rows.iter().map(|r| r.w1))),
        json_number(mean(rows.iter().map(|r| r.w2))),
        json_number(mean(rows.iter().map(|r| r.mmd))),
        json_number(mean(rows.iter().map(|r| r.bw_uvp))),
        opt(l2_mean),
        opt(mean_opt(rows, |r| r.grad_rel_l2)),
        opt(mean_opt(rows, |r| r.grad_cosine)),
        json_number(mean(rows.iter().map(|r| r.baseline_w1))),
        json_number(mean(rows.iter().map(|r| r.baseline_w1))),
        opt(mean_opt(rows, |r| r.mean_shift_w1)),
        opt(mean_opt(rows, |r| r.affine_w1)),
        json_string(best_name.name()),
        json_number(best),
        mean(rows.iter().map(|r| r.w1)) < best
    )
}

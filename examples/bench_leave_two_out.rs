//! EB 5-D leave-two-out (the iJKOnet paper's Table 2 protocol, spec ijkonet.md §10.3): train on
//! snapshots 0, 2, 4 only (all their cells), reconstruct snapshot 1 from the cells of snapshot 0 and
//! snapshot 3 from those of snapshot 2 with `Model::predict_at` (the library call behind
//! `ijkonet predict --to-time`: one JKO step of the time gap with the learned energy frozen), and
//! report the exact W2 to ALL cells of the left-out snapshot, for every method and variant, next to
//! two baselines computed from the same cells:
//! - no motion: W2(ρ_0, ρ_1) and W2(ρ_2, ρ_3);
//! - the OT displacement (McCann) midpoint: the exact W2 plan π between snapshots 0 and 2 (2 and 4),
//!   its barycentric map T(x_i) = n·Σ_j π_ij y_j, and x ↦ x + ½(T(x) − x).
//!
//! cargo run --release --example bench_leave_two_out -- [runs=all|label,label,…] [seeds=0,1,2]
//!     [jkonet_epochs=3] [jko_iterations=500] [data=<eb_pca5 dir>] [key=value … for every run]
//!
//! Labels: baselines, ijkonet_V, ijkonet_tV, star_V, star_tV, star_linear_V, jkonet_V. Every run uses
//! the method's defaults (iJKOnet: early stopping on 20 % validation cells, ≤ 10 000 iterations;
//! JKOnet*: 100 epochs) except JKOnet, which gets `jkonet_epochs` epochs (20–30 s each here), and
//! the linear JKOnet*, whose default features (5^d − 1 monomials + 10^d RBFs) exceed its limit in 5-D:
//! it uses 4^5 RBFs of width 1 and no monomials (a tensor-degree-2 polynomial is unbounded below and
//! its JKO step ran away: W2 386 at t3).

mod common;

use common::{eb_dir, fit_timed, fmt_mean_std, key_value, mean, parse_seeds, read_eb};
use ijkonet::config::TrainConfig;
use ijkonet::metrics::ot::{exact_ot, w2, GroundCost};
use ijkonet::model::JkoStepOptions;
use ijkonet::Snapshots;
use ndarray::{Array2, ArrayView2};

/// Training options as (key, value).
type Options = &'static [(&'static str, &'static str)];

/// One table row: its label, W2 at t1 and t3 per seed, training seconds per seed.
struct Row {
    name: String,
    settings: String,
    t1: Vec<f64>,
    t3: Vec<f64>,
    secs: Vec<f64>,
}

/// (label, method, variant, extra options).
const RUNS: [(&str, &str, &str, Options); 6] = [
    ("ijkonet_V", "ijkonet", "V", &[]),
    ("ijkonet_tV", "ijkonet", "t,V", &[]),
    ("star_V", "jkonet_star", "V", &[]),
    ("star_tV", "jkonet_star", "t,V", &[]),
    (
        "star_linear_V",
        "jkonet_star_linear",
        "V",
        &[("star_poly_degree", "0"), ("star_rbf_centres", "4"), ("star_rbf_sigma", "1")],
    ),
    ("jkonet_V", "jkonet", "V", &[]),
];

/// x + ½(T(x) − x) with T the barycentric projection of the exact W2 plan from `x` to `y`.
fn mccann_midpoint(x: ArrayView2<f64>, y: ArrayView2<f64>) -> ijkonet::Result<Array2<f64>> {
    let plan = exact_ot(x, y, GroundCost::SquaredEuclidean)?;
    let n = x.nrows() as f64;
    let mut t = Array2::<f64>::zeros(x.raw_dim());
    for &(i, j, mass) in &plan.entries {
        t.row_mut(i).scaled_add(mass * n, &y.row(j));
    }
    Ok(&x + &((&t - &x) * 0.5))
}

fn main() -> ijkonet::Result<()> {
    let mut user: Vec<(String, String)> = Vec::new();
    let mut runs: Vec<String> =
        std::iter::once("baselines").chain(RUNS.iter().map(|r| r.0)).map(String::from).collect();
    let mut seeds = vec![0u64, 1, 2];
    let mut jkonet_epochs = 3usize;
    let mut opts = JkoStepOptions::default();
    let mut dir = eb_dir();
    for arg in std::env::args().skip(1) {
        let (k, v) = key_value(&arg);
        match k {
            "runs" if v == "all" => {}
            "runs" => runs = v.split(',').map(String::from).collect(),
            "seeds" => seeds = parse_seeds(v),
            "jkonet_epochs" => jkonet_epochs = v.parse().expect("jkonet_epochs"),
            "jko_iterations" => opts.iterations = v.parse().expect("jko_iterations"),
            "data" => dir = v.into(),
            _ => user.push((k.to_string(), v.to_string())),
        }
    }
    let data = read_eb(&dir)?;
    let times = data.times();
    assert_eq!(data.len(), 5, "EB has 5 snapshots");
    let cells = |k: usize| data.get(k).expect("snapshot").points.view();
    let train = Snapshots::new(
        vec![times[0], times[2], times[4]],
        vec![cells(0).to_owned(), cells(2).to_owned(), cells(4).to_owned()],
    )?;
    println!(
        "EB leave-two-out: sizes {:?}, times {times:?}; train on snapshots 0, 2, 4; W2 to all cells of 1 and 3; \
         JKO step {} iterations, lr {}",
        data.sizes(),
        opts.iterations,
        opts.lr
    );
    let mut table: Vec<Row> = Vec::new();
    if runs.iter().any(|r| r == "baselines") {
        let none = [w2(cells(0), cells(1))?, w2(cells(2), cells(3))?];
        let mid = [
            w2(mccann_midpoint(cells(0), cells(2))?.view(), cells(1))?,
            w2(mccann_midpoint(cells(2), cells(4))?.view(), cells(3))?,
        ];
        println!("no motion: W2 t1 {:.4}, t3 {:.4}", none[0], none[1]);
        println!("McCann midpoint of the exact OT plan: W2 t1 {:.4}, t3 {:.4}", mid[0], mid[1]);
        let fixed = |name: &str, [t1, t3]: [f64; 2]| Row {
            name: name.into(),
            settings: "—".into(),
            t1: vec![t1],
            t3: vec![t3],
            secs: vec![],
        };
        table.push(fixed("no motion", none));
        table.push(fixed("OT displacement midpoint (McCann)", mid));
    }
    for &(label, method, variant, extra) in RUNS.iter().filter(|r| runs.iter().any(|s| s == r.0)) {
        let mut config = TrainConfig::default();
        config.set("method", method)?;
        config.set("variant", variant)?;
        if method == "jkonet" {
            config.epochs = jkonet_epochs;
        }
        for (k, v) in extra.iter().copied().chain(user.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            config.set(k, v)?;
        }
        let (mut t1, mut t3, mut secs) = (Vec::new(), Vec::new(), Vec::new());
        for &seed in &seeds {
            config.seed = seed;
            let (model, s) = fit_timed(&config, &train, None)?;
            let p1 = model.predict_at(cells(0), times[0], times[1], &opts)?;
            let p3 = model.predict_at(cells(2), times[2], times[3], &opts)?;
            let (a, b) = (w2(p1.view(), cells(1))?, w2(p3.view(), cells(3))?);
            println!(
                "{label} seed {seed}: W2 t1 {a:.4}, t3 {b:.4} | training {s:.1} s, {} epochs{}",
                model.epochs_done(),
                model.validation_summary().map_or(String::new(), |v| format!(
                    " (validation W1 {:.4} → {:.4} at epoch {}, {})",
                    v.initial_w1, v.best_w1, v.best_epoch, v.stop_reason
                ))
            );
            t1.push(a);
            t3.push(b);
            secs.push(s);
        }
        let opts_note = common::changed_options(&config, &["method", "variant", "seed"]);
        table.push(Row { name: format!("{method} {variant}"), settings: opts_note, t1, t3, secs });
    }
    let user: Vec<String> = user.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "\noptions for every run: {}; seeds {seeds:?}",
        if user.is_empty() { "none".into() } else { user.join(" ") }
    );
    println!("| method | settings | W2 t1 (from t0) | W2 t3 (from t2) | mean | training s per seed |");
    println!("|---|---|---|---|---|---|");
    for Row { name, settings: note, t1, t3, secs } in &table {
        let means: Vec<f64> = t1.iter().zip(t3).map(|(a, b)| 0.5 * (a + b)).collect();
        println!(
            "| {name} | {note} | {} | {} | {} | {} |",
            fmt_mean_std(t1, 3),
            fmt_mean_std(t3, 3),
            fmt_mean_std(&means, 3),
            if secs.is_empty() { "—".into() } else { format!("{:.0}", mean(secs)) }
        );
    }
    Ok(())
}

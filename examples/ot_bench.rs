//! Wall time of the exact OT solver on random uniform clouds in [−4, 4]².
//!
//! Run: `cargo run --release --example ot_bench`

use std::time::Instant;

use ijkonet::metrics::ot::{
    exact_ot_cost_matrix, exact_ot_with_duals, w2_squared, DualPotentials, GroundCost,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn cloud(rng: &mut ChaCha8Rng, n: usize) -> Array2<f64> {
    Array2::from_shape_fn((n, 2), |_| rng.random_range(-4.0..4.0))
}

/// Optimality certificate, relative to the largest cost: the worst dual violation
/// max(u_i + v_j − c_ij) and the duality gap |Σu/n + Σv/m − cost|.
fn certificate(
    x: &Array2<f64>,
    y: &Array2<f64>,
    cost: GroundCost,
    plan_cost: f64,
    duals: &DualPotentials,
) -> (f64, f64) {
    let mut worst = f64::NEG_INFINITY;
    let mut max_c = 0.0_f64;
    for (i, xi) in x.rows().into_iter().enumerate() {
        for (j, yj) in y.rows().into_iter().enumerate() {
            let sq: f64 = xi.iter().zip(yj).map(|(a, b)| (a - b) * (a - b)).sum();
            let c = if cost == GroundCost::Euclidean {
                sq.sqrt()
            } else {
                sq
            };
            max_c = max_c.max(c);
            worst = worst.max(duals.source[i] + duals.target[j] - c);
        }
    }
    (worst / max_c, (duals.objective() - plan_cost).abs() / max_c)
}

fn main() -> ijkonet::Result<()> {
    // (n, m, repeats): the median of the repeats is reported.
    let cases = [
        (500, 500, 5),
        (1000, 1000, 5),
        (2000, 2000, 3),
        (2000, 3000, 1),
        (5000, 5000, 1),
    ];
    println!(
        "| n × m | ground cost | median wall time (s) | repeats | optimal cost | plan entries | max dual violation / max c | duality gap / max c |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (n, m, repeats) in cases {
        for cost in [GroundCost::SquaredEuclidean, GroundCost::Euclidean] {
            let mut times = Vec::with_capacity(repeats);
            let mut result = None;
            for rep in 0..repeats {
                // A fresh pair of clouds per repeat, from a seed fixed by the case and repeat.
                let mut rng = ChaCha8Rng::seed_from_u64((n * 7919 + m * 31 + rep) as u64);
                let x = cloud(&mut rng, n);
                let y = cloud(&mut rng, m);
                let start = Instant::now();
                let (plan, duals) = exact_ot_with_duals(x.view(), y.view(), cost)?;
                times.push(start.elapsed().as_secs_f64());
                if rep == 0 {
                    let cert = certificate(&x, &y, cost, plan.cost, &duals);
                    result = Some((plan, cert));
                }
            }
            times.sort_by(f64::total_cmp);
            let (plan, (violation, gap)) = result.expect("at least one repeat");
            let name = match cost {
                GroundCost::SquaredEuclidean => "squared Euclidean (W2²)",
                GroundCost::Euclidean => "Euclidean (W1)",
            };
            println!(
                "| {n} × {m} | {name} | {:.3} | {repeats} | {:.6} | {} | {violation:.1e} | {gap:.1e} |",
                times[repeats / 2],
                plan.cost,
                plan.entries.len()
            );
        }
    }
    harder_cases()
}

fn time<T>(f: impl FnOnce() -> ijkonet::Result<T>) -> ijkonet::Result<(f64, T)> {
    let start = Instant::now();
    let out = f()?;
    Ok((start.elapsed().as_secs_f64(), out))
}

/// Single solves of 2000-point problems that stress other parts of the solver.
fn harder_cases() -> ijkonet::Result<()> {
    println!();
    println!("| case (W2², single solve) | wall time (s) | optimal cost |");
    println!("|---|---|---|");
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (n, m) = (2000, 2000);
    let x = cloud(&mut rng, n);
    let y = cloud(&mut rng, m);
    let costs = Array2::from_shape_fn((n, m), |(i, j)| {
        let (dx, dy) = (x[[i, 0]] - y[[j, 0]], x[[i, 1]] - y[[j, 1]]);
        dx * dx + dy * dy
    });
    let (t, plan) = time(|| exact_ot_cost_matrix(costs.view()))?;
    println!(
        "| 2000 × 2000 in 2-D, from the cost matrix (arbitrary initial tree) | {t:.3} | {:.6} |",
        plan.cost
    );
    let (t, c) = time(|| w2_squared(x.view(), y.view()))?;
    println!(
        "| same clouds from points (initial tree sorted by first coordinate) | {t:.3} | {c:.6} |"
    );

    let gx = Array2::from_shape_fn((n, 10), |_| rng.sample::<f64, _>(StandardNormal));
    let gy = Array2::from_shape_fn((m, 10), |(_, k)| {
        rng.sample::<f64, _>(StandardNormal) + if k == 0 { 1.0 } else { 0.0 }
    });
    let (t, c) = time(|| w2_squared(gx.view(), gy.view()))?;
    println!("| 2000 × 2000 Gaussians in 10-D | {t:.3} | {c:.6} |");

    // Integer lattice against its unit translate: massively degenerate, W2² = 1 exactly.
    let side = 45;
    let lattice = Array2::from_shape_fn((side * side, 2), |(p, k)| {
        if k == 0 {
            (p / side) as f64
        } else {
            (p % side) as f64
        }
    });
    let mut shifted = lattice.clone();
    shifted.column_mut(0).mapv_inplace(|v| v + 1.0);
    let (t, c) = time(|| w2_squared(lattice.view(), shifted.view()))?;
    println!(
        "| 45² lattice vs its unit translate (degenerate; exact value 1) | {t:.3} | {c:.12} |"
    );
    Ok(())
}

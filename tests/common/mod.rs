//! Fixtures shared by the integration tests of the learners.

use ijkonet::Snapshots;
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An offset added to the seeds of the test data and models: `IJKONET_TEST_SEED=n cargo test` runs
/// the suite on other draws (0 when unset), so the margins of the assertions are checked, not tuned to
/// one seed.
pub fn test_seed() -> u64 {
    std::env::var("IJKONET_TEST_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

pub const STRENGTH: f64 = 5.0;
pub const CENTRE: [f64; 2] = [1.0, -1.0];

/// ∇V for V(x) = STRENGTH·‖x − c‖²: an attracting quadratic well.
pub fn true_grad(x: ArrayView2<f64>) -> Array2<f64> {
    Array2::from_shape_fn(x.dim(), |(i, j)| 2.0 * STRENGTH * (x[[i, j]] - CENTRE[j]))
}

/// Unpaired snapshots of x ← x − dt∇V(x) at times k·dt: snapshot k is an independent U[−4,4]²
/// population moved k steps.
pub fn quadratic_snapshots(n: usize, snapshots: usize, seed: u64, dt: f64) -> Snapshots {
    let clouds = (0..snapshots)
        .map(|k| {
            let mut rng = ChaCha8Rng::seed_from_u64((seed + 7919 * test_seed()) * 1000 + k as u64);
            let mut x = Array2::from_shape_fn((n, 2), |_| rng.random_range(-4.0..4.0));
            for _ in 0..k {
                x = &x - &(true_grad(x.view()) * dt);
            }
            x
        })
        .collect();
    Snapshots::new((0..snapshots).map(|k| k as f64 * dt).collect(), clouds).unwrap()
}

//! JKOnet* end to end on small data: the closed form, couplings, learning, persistence,
//! determinism and failure modes.

#[allow(dead_code)]
mod common;
use ijkonet::config::TrainConfig;
use ijkonet::methods::jkonet_star::couplings::{couple, sinkhorn};
use ijkonet::methods::jkonet_star::mlp::StarTrainer;
use ijkonet::methods::jkonet_star::StarConfig;
use ijkonet::methods::{fit, Trainer};
use ijkonet::metrics::ot::{exact_ot, GroundCost};
use ijkonet::model::Model;
use ijkonet::{ErrorKind, Snapshots};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;

const DT: f64 = 0.01;

/// ∇V of V(x) = 0.1(x₁⁴ + x₂⁴) + x₁² − 0.5x₁x₂ + 0.8x₂² + x₁²x₂ − 2x₂: a polynomial of degree ≤ 4
/// per coordinate, so inside the linear model's feature span.
fn poly_grad(x: ArrayView2<f64>) -> Array2<f64> {
    Array2::from_shape_fn(x.dim(), |(i, j)| {
        let (a, b) = (x[[i, 0]], x[[i, 1]]);
        if j == 0 {
            0.4 * a.powi(3) + 2.0 * a - 0.5 * b + 2.0 * a * b
        } else {
            0.4 * b.powi(3) - 0.5 * a + 1.6 * b + a * a - 2.0
        }
    })
}

/// ∇V of the quadratic well V(x) = 5‖x − (1, −1)‖².
fn quad_grad(x: ArrayView2<f64>) -> Array2<f64> {
    let c = [1.0, -1.0];
    Array2::from_shape_fn(x.dim(), |(i, j)| 10.0 * (x[[i, j]] - c[j]))
}

fn implicit_quad_grad(x: ArrayView2<f64>) -> Array2<f64> {
    quad_grad(x) / (1.0 - 10.0 * DT)
}

/// Paired, noiseless explicit-Euler snapshots x ← x − dt∇V(x) from U[−3, 3]².
fn paired(n: usize, snapshots: usize, seed: u64, grad: fn(ArrayView2<f64>) -> Array2<f64>) -> Snapshots {
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 7919 * common::test_seed());
    let mut x = Array2::from_shape_fn((n, 2), |_| rng.random_range(-3.0..3.0));
    let mut clouds = vec![x.clone()];
    for _ in 1..snapshots {
        x = &x - &(grad(x.view()) * DT);
        clouds.push(x.clone());
    }
    Snapshots::new((0..snapshots).map(|k| k as f64 * DT).collect(), clouds).unwrap()
}

fn config(method: &str, variant: &str, epochs: usize) -> TrainConfig {
    let mut c = TrainConfig { epochs, seed: common::test_seed(), ..TrainConfig::default() };
    for (k, v) in [("device", "cpu"), ("threads", "1"), ("method", method), ("variant", variant)] {
        c.set(k, v).unwrap();
    }
    c
}

fn relative_error(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let num: f64 = (a - b).iter().map(|v| v * v).sum();
    let den: f64 = b.iter().map(|v| v * v).sum();
    (num / den).sqrt()
}

/// Relative error of the model's ∇V (user units) on the snapshots 1.. against the truth.
fn grad_error(model: &Model, data: &Snapshots, grad: fn(ArrayView2<f64>) -> Array2<f64>) -> f64 {
    let mut worst: f64 = 0.0;
    for k in 1..data.len() {
        let x = data.get(k).unwrap().points.view();
        worst = worst.max(relative_error(&model.grad_potential(x, data.times()[k]).unwrap(), &grad(x)));
    }
    worst
}

#[test]
fn closed_form_recovers_a_polynomial_potential_on_noiseless_data() {
    let data = paired(300, 4, 1, poly_grad);
    let mut c = config("jkonet_star_linear", "V", 1);
    c.set("star_rbf_centres", "0").unwrap();
    c.set("star_ridge", "0").unwrap();
    let model = fit(&c, &data).unwrap();
    let err = grad_error(&model, &data, poly_grad);
    assert!(err < 1e-6, "relative ∇V error {err}");
    // With the default ridge and RBFs the fit is still close, and predictions follow the data.
    let model = fit(&config("jkonet_star_linear", "V", 1), &data).unwrap();
    assert!(grad_error(&model, &data, poly_grad) < 1e-2);
    let pred = model.push_forward(0, data.get(0).unwrap().points.view()).unwrap();
    assert!(relative_error(&pred, &data.get(1).unwrap().points) < 1e-4);
}

#[test]
fn couplings_match_exact_ot_and_random_blocks_do_not_follow_indices() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = Array2::from_shape_fn((300, 2), |_| rng.random_range(-4.0..4.0));
    let y = Array2::from_shape_fn((200, 2), |_| rng.random_range(-4.0..4.0));
    let cfg = StarConfig::default();
    let plan = couple(x.view(), y.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let exact = exact_ot(x.view(), y.view(), GroundCost::SquaredEuclidean).unwrap();
    assert!((plan.cost(x.view(), y.view()) - exact.cost).abs() < 1e-12 * exact.cost.max(1.0));

    // Paired clouds (row i of y is row i of x, shifted): blocks by index would recover the identity.
    let n = 400;
    let x = Array2::from_shape_fn((n, 2), |_| rng.random_range(-4.0..4.0));
    let y = &x + 0.05;
    let cfg = StarConfig { block: 100, ..StarConfig::default() };
    let plan = couple(x.view(), y.view(), &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let (mut row, mut col) = (vec![0.0; n], vec![0.0; n]);
    for &(i, j, w) in &plan.entries {
        row[i] += w;
        col[j] += w;
    }
    assert!(row.iter().chain(&col).all(|m| (m - 1.0 / n as f64).abs() < 1e-12), "marginals are 1/n");
    let identity = plan.entries.iter().filter(|e| e.0 == e.1).count() as f64 / n as f64;
    assert!(identity < 0.5, "random blocks of 100 keep {identity} of the true pairs (≈ 1/4 expected)");
    let whole = exact_ot(x.view(), y.view(), GroundCost::SquaredEuclidean).unwrap().cost;
    assert!(plan.cost(x.view(), y.view()) >= whole - 1e-12);

    // Entropic couplings: unit mass and a cost close to the exact one for a small ε.
    let (xs, ys) = (x.slice(ndarray::s![..100, ..]), y.slice(ndarray::s![..100, ..]));
    let s = sinkhorn(xs, ys, 0.1).unwrap();
    let mass: f64 = s.entries.iter().map(|e| e.2).sum();
    assert!((mass - 1.0).abs() < 1e-12);
    let e = exact_ot(xs, ys, GroundCost::SquaredEuclidean).unwrap().cost;
    let c = s.cost(xs, ys);
    assert!((c - e).abs() < 0.1 * e + 0.1, "Sinkhorn cost {c} vs exact {e}");
}

#[test]
fn mlp_learns_the_gradient_of_a_quadratic_potential() {
    let data = paired(300, 5, 3, quad_grad);
    let mut c = config("jkonet_star", "V", 200);
    c.set("energy_hidden", "32,32").unwrap();
    c.set("energy_lr", "1e-2").unwrap();
    let untrained = StarTrainer::new(&c, &data).unwrap();
    let before = grad_error(untrained.model(), &data, quad_grad);
    let model = fit(&c, &data).unwrap();
    assert!(before > 0.9, "untrained error {before}");
    // The loss is the implicit (JKO) condition at y while the data are explicit Euler steps, so the
    // consistent target is ∇V(x) seen from y: for this well 10(y − c)/(1 − 10·dt), 11 % steeper.
    let implicit = grad_error(&model, &data, implicit_quad_grad);
    assert!(implicit < 0.05, "error against the implicit-consistent field {implicit}");
    let truth = grad_error(&model, &data, quad_grad);
    assert!((0.05..0.2).contains(&truth), "error against ∇V {truth}");
    // t,V learns the same (time-independent) field.
    c.set("variant", "t,V").unwrap();
    let model = fit(&c, &data).unwrap();
    let tv = grad_error(&model, &data, implicit_quad_grad);
    assert!(tv < 0.08, "t,V error {tv}");
    // The learned model predicts the next snapshot closely (implicit step by default).
    let pred = model.push_forward(1, data.get(1).unwrap().points.view()).unwrap();
    let w1 = ijkonet::metrics::ot::w1(pred.view(), data.get(2).unwrap().points.view()).unwrap();
    let still =
        ijkonet::metrics::ot::w1(data.get(1).unwrap().points.view(), data.get(2).unwrap().points.view()).unwrap();
    assert!(w1 < 0.3 * still, "W1 {w1} against {still} without motion");
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let data = paired(120, 3, 4, quad_grad);
    let mut c = config("jkonet_star", "V+W+U", 3);
    c.set("energy_hidden", "16").unwrap();
    c.set("star_gmm_components", "3").unwrap();
    let x = data.get(1).unwrap().points.view();
    let a = fit(&c, &data).unwrap();
    let b = fit(&c, &data).unwrap();
    assert_eq!(a.grad_potential(x, 0.01).unwrap(), b.grad_potential(x, 0.01).unwrap());
    assert_eq!(a.push_forward(0, x).unwrap(), b.push_forward(0, x).unwrap());
    c.seed = 9;
    let d = fit(&c, &data).unwrap();
    assert_ne!(a.grad_potential(x, 0.01).unwrap(), d.grad_potential(x, 0.01).unwrap());
}

#[test]
fn a_diverging_run_stops_with_an_error_and_keeps_finite_parameters() {
    let data = paired(100, 3, 5, quad_grad);
    let mut c = config("jkonet_star", "V", 50);
    c.set("energy_lr", "1e30").unwrap();
    c.set("energy_clip", "none").unwrap();
    let mut t = StarTrainer::new(&c, &data).unwrap();
    let err = t.train(50, None, &mut |_| ControlFlow::Continue(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Numerical, "{err}");
    assert!(err.message().contains("last finite parameters"));
    let x = data.get(0).unwrap().points.view();
    assert!(t.model().grad_potential(x, 0.0).unwrap().iter().all(|v| v.is_finite()));
    assert_eq!(t.step().unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn save_and_load_round_trip_for_both_methods() {
    let data = paired(150, 3, 6, quad_grad);
    let dir = std::env::temp_dir().join(format!("ijkonet-star-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x = data.get(1).unwrap().points.view();
    // t,V alone trains on the explicit step, whose parameters are views into one vector.
    for (method, variant) in [("jkonet_star", "t,V+W+U"), ("jkonet_star_linear", "V+W+U"), ("jkonet_star", "t,V")] {
        let mut c = config(method, variant, 2);
        c.set("energy_hidden", "16").unwrap();
        c.set("star_gmm_components", "4").unwrap();
        c.set("star_rbf_centres", "5").unwrap();
        let model = fit(&c, &data).unwrap();
        let path = dir.join(format!("{method}_{variant}.safetensors"));
        model.save(&path).unwrap();
        let back = Model::load(&path, None).unwrap();
        assert_eq!(back.method(), model.method());
        assert_eq!(back.config(), model.config());
        let (g0, g1) = (model.grad_potential(x, 0.01).unwrap(), back.grad_potential(x, 0.01).unwrap());
        assert!(relative_error(&g1, &g0) < 1e-5, "{method}: ∇V changed by {}", relative_error(&g1, &g0));
        if variant.contains('W') {
            let (f0, f1) = (model.interaction_field(x, x).unwrap(), back.interaction_field(x, x).unwrap());
            assert!(relative_error(&f1, &f0) < 1e-4, "{method}: interaction changed");
            assert!((model.theta3() - back.theta3()).abs() <= 1e-6 * model.theta3().abs().max(1e-3));
        }
        let (p0, p1) = (model.push_forward(0, x).unwrap(), back.push_forward(0, x).unwrap());
        assert!(relative_error(&p1, &p0) < 1e-5, "{method}: prediction changed");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn time_feature_counts_steps_and_legacy_files_keep_the_span() {
    use ijkonet::config::TimeFeature;
    // Uneven times: steps count mean gaps (mean gap 1.5 here), span runs over [0, 1].
    let data = Snapshots::new(
        vec![0.0, 1.0, 3.0],
        (0..3).map(|k| Array2::from_shape_fn((30, 2), |(i, j)| (i * 2 + j + k) as f64 * 0.1)).collect(),
    )
    .unwrap();
    let mut c = config("jkonet_star", "t,V", 1);
    c.set("energy_hidden", "8").unwrap();
    let model = fit(&c, &data).unwrap();
    let axis = model.axis();
    assert_eq!(axis.feature_kind, TimeFeature::Steps);
    assert_eq!([axis.feature(0.0), axis.feature(1.0), axis.feature(3.0)], [0.0, 1.0 / 1.5, 2.0]);
    assert_eq!(model.config().get("time_feature").unwrap(), "steps", "the model keeps the resolved feature");
    c.set("time_feature", "span").unwrap();
    let span = fit(&c, &data).unwrap();
    assert_eq!([span.axis().feature(1.0), span.axis().feature(3.0)], [1.0 / 3.0, 1.0]);

    // A file written before the key existed loads with the span feature it was trained with.
    let dir = std::env::temp_dir().join(format!("ijkonet-star-tf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    assert_eq!(meta.remove("config.time_feature").as_deref(), Some("steps"));
    let legacy = safetensors::tensor::serialize(file.tensors(), Some(meta)).unwrap();
    std::fs::write(&path, legacy).unwrap();
    let back = Model::load(&path, None).unwrap();
    assert_eq!(back.axis().feature_kind, TimeFeature::Span);
    assert_eq!(back.axis().feature(3.0), 1.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inputs_give_clear_errors() {
    // A snapshot of one point is refused when the data are built.
    let one = Snapshots::new(vec![0.0, 1.0], vec![Array2::zeros((1, 2)), Array2::zeros((3, 2))]);
    assert_eq!(one.unwrap_err().kind(), ErrorKind::InvalidData);
    // Too few points for the density estimate of the internal energy.
    let data = paired(6, 3, 7, quad_grad);
    let e = fit(&config("jkonet_star", "V+U", 1), &data).err().expect("error");
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(e.message().contains("star_gmm_components"), "{e}");
    // The linear energy has no time-varying potential, and refuses exploding feature counts.
    let data = paired(40, 3, 8, quad_grad);
    let e = fit(&config("jkonet_star_linear", "t,V", 1), &data).err().expect("error");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let mut c = config("jkonet_star_linear", "V", 1);
    c.set("star_rbf_centres", "400").unwrap();
    assert!(fit(&c, &data).err().expect("error").message().contains("features"));
    // Bad option values name the key.
    let mut c = TrainConfig::default();
    for (k, v) in [("star_predict", "sideways"), ("star_block", "1"), ("star_coupling", "greedy"), ("star_ridge", "-1")]
    {
        let e = c.set(k, v).unwrap_err();
        assert!(e.message().contains(k), "{k}: {e}");
    }
    // Wrong-dimension points for prediction.
    let model = fit(&config("jkonet_star", "V", 1), &data).unwrap();
    assert_eq!(model.push_forward(0, Array2::zeros((3, 3)).view()).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

//! JKOnet end to end on small data: learning, determinism, persistence, failure modes.

mod common;
use common::{quadratic_snapshots, true_grad};
use ijkonet::config::TrainConfig;
use ijkonet::methods::jkonet::JkonetTrainer;
use ijkonet::methods::{fit, Trainer};
use ijkonet::metrics::ot::w1;
use ijkonet::model::Model;
use ijkonet::{ErrorKind, Snapshots};
use ndarray::{Array2, ArrayView2};
use std::ops::ControlFlow;

const DT: f64 = 0.05;
fn small_config(epochs: usize) -> TrainConfig {
    let mut c = TrainConfig { epochs, seed: common::test_seed(), ..TrainConfig::default() };
    for (k, v) in [
        ("method", "jkonet"),
        // These dynamics do not depend on time: V is the model (the default t,V also learns the
        // direction, cosine 0.966–0.995 over seeds 0–2, with less margin on the assertion below).
        ("variant", "V"),
        ("device", "cpu"),
        ("threads", "1"),
        ("batch_size", "100"),
        ("energy_hidden", "16,16"),
        ("energy_lr", "1e-2"),
        ("energy_beta1", "0.5"),
        ("energy_beta2", "0.9"),
        ("jkonet_icnn_hidden", "16,16"),
    ] {
        c.set(k, v).unwrap();
    }
    c
}

fn mean_w1(model: &Model, data: &Snapshots) -> f64 {
    let w = model.one_step_w1(data).unwrap();
    w.iter().sum::<f64>() / w.len() as f64
}

/// Mean cosine between the learned and the true ∇V over the rows of `x`.
fn cosine(model: &Model, x: ArrayView2<f64>) -> f64 {
    let learned = model.grad_potential(x, 0.0).unwrap();
    let truth = true_grad(x);
    let c: Vec<f64> = learned
        .outer_iter()
        .zip(truth.outer_iter())
        .map(|(a, b)| a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt() + 1e-12))
        .collect();
    c.iter().sum::<f64>() / c.len() as f64
}

#[test]
fn learns_the_direction_of_a_quadratic_potential() {
    let data = quadratic_snapshots(200, 3, 1, DT);
    let test = quadratic_snapshots(200, 3, 2, DT);
    let untrained = ijkonet::methods::trainer(&small_config(1), &data).unwrap().into_model();
    let model = fit(&small_config(40), &data).unwrap();
    let no_motion: f64 = (0..2)
        .map(|k| w1(test.get(k).unwrap().points.view(), test.get(k + 1).unwrap().points.view()).unwrap())
        .sum::<f64>()
        / 2.0;
    let (before, after) = (mean_w1(&untrained, &test), mean_w1(&model, &test));
    let x = test.get(1).unwrap().points.view();
    let (cos_before, cos_after) = (cosine(&untrained, x), cosine(&model, x));
    println!(
        "W1: untrained {before:.3}, trained {after:.3}, no motion {no_motion:.3}; cos {cos_before:.3} → {cos_after:.3}"
    );
    // Measured over IJKONET_TEST_SEED 0–2 (2-core x86-64 VM, threads = 1, 40 epochs): trained W1
    // 0.250–0.252 against no motion 1.29–1.31 (ratio 0.19–0.20) and untrained 1.27–1.34; cosine to
    // the true ∇V 0.991 / 0.994 / 0.994 (before training 0.62 / −0.05 / −0.33). Seeds 0–4 at 20
    // epochs: 0.969–0.998, so 0.95 keeps a margin of ≥ 0.04 at 40. Before the identity-started ψ
    // and the decaying inner rate, the cosine was 0.58–0.80 and machine-dependent.
    assert!(after < 0.4 * no_motion, "trained W1 {after} vs no-motion {no_motion}");
    assert!(after < 0.4 * before, "trained W1 {after} vs untrained {before}");
    assert!(cos_after > 0.95, "cosine to the true ∇V {cos_after}: the learned field points the wrong way");
    assert!(cos_after > cos_before + 0.15, "cosine to the true ∇V {cos_after} (untrained {cos_before})");
}

#[test]
fn seeded_training_is_deterministic_and_seed_sensitive() {
    let data = quadratic_snapshots(80, 3, 3, DT);
    let run = |seed: &str| {
        let mut c = small_config(2);
        c.set("seed", seed).unwrap();
        let m = fit(&c, &data).unwrap();
        let x = data.get(0).unwrap().points.view();
        (m.grad_potential(x, 0.0).unwrap(), m.push_forward(0, x).unwrap())
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    let b = run("8");
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}

#[test]
fn save_then_load_reproduces_predictions_and_queries() {
    let data = quadratic_snapshots(60, 3, 4, DT);
    let mut c = small_config(1);
    c.set("variant", "t,V+W").unwrap();
    c.set("jkonet_cvx_reg", "0.5").unwrap();
    let model = fit(&c, &data).unwrap();
    let dir = std::env::temp_dir().join(format!("ijkonet-jkonet-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(&path, None).unwrap();
    assert_eq!(loaded.method().name(), "jkonet");
    assert_eq!(loaded.config(), model.config());
    let x = data.get(1).unwrap().points.view();
    assert_eq!(loaded.push_forward(1, x).unwrap(), model.push_forward(1, x).unwrap());
    assert_eq!(loaded.grad_potential(x, 0.05).unwrap(), model.grad_potential(x, 0.05).unwrap());
    assert_eq!(loaded.interaction_field(x, x).unwrap(), model.interaction_field(x, x).unwrap());
    // A JKOnet model has no learned maps, and off-grid times are solved with its ICNN step.
    assert_eq!(loaded.maps().err().unwrap().kind(), ErrorKind::State);
    let opts = ijkonet::model::JkoStepOptions { iterations: 20, ..Default::default() };
    let y = loaded.predict_at(x, 0.05, 0.07, &opts).unwrap();
    assert_eq!(y, model.predict_at(x, 0.05, 0.07, &opts).unwrap());
    assert!(y.iter().all(|v| v.is_finite()));

    // A file written before `jkonet_psi` and `jkonet_inner_schedule` existed keeps the reference
    // solver it was trained with (the keys renamed in the header stand for their absence).
    let mut bytes = std::fs::read(&path).unwrap();
    for key in ["\"config.jkonet_psi\"", "\"config.jkonet_inner_schedule\""] {
        let pos = bytes.windows(key.len()).position(|w| w == key.as_bytes()).expect("key in header");
        bytes[pos + key.len() - 2] = b'_';
    }
    let old = dir.join("old.safetensors");
    std::fs::write(&old, &bytes).unwrap();
    let legacy = Model::load(&old, None).unwrap();
    assert_eq!(model.config().get("jkonet_psi").unwrap(), "identity");
    assert_eq!(legacy.config().get("jkonet_psi").unwrap(), "reference");
    assert_eq!(legacy.config().get("jkonet_inner_schedule").unwrap(), "constant");
    assert!(legacy.push_forward(1, x).unwrap().iter().all(|v| v.is_finite()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_diverging_run_stops_with_an_error_and_keeps_finite_parameters() {
    let data = quadratic_snapshots(60, 3, 5, DT);
    let mut c = small_config(20);
    c.set("energy_lr", "1e30").unwrap();
    c.set("energy_clip", "none").unwrap();
    let mut t = JkonetTrainer::new(&c, &data).unwrap();
    let err = t.train(20, None, &mut |_| ControlFlow::Continue(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Numerical, "{err}");
    assert!(err.message().contains("last finite parameters"), "{err}");
    let x = data.get(0).unwrap().points.view();
    assert!(t.model().grad_potential(x, 0.0).unwrap().iter().all(|v| v.is_finite()));
    // The trainer refuses to continue from a diverged state.
    assert_eq!(t.step().unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn bad_inputs_are_refused_with_clear_errors() {
    let data = quadratic_snapshots(40, 3, 6, DT);
    let mut c = small_config(1);
    c.set("variant", "V+U").unwrap();
    let e = JkonetTrainer::new(&c, &data).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("internal energy"), "{e}");
    let mut other = small_config(1);
    other.set("method", "ijkonet").unwrap();
    assert_eq!(JkonetTrainer::new(&other, &data).err().unwrap().kind(), ErrorKind::InvalidArgument);

    let model = ijkonet::methods::trainer(&small_config(1), &data).unwrap().into_model();
    let wrong_dim = Array2::<f64>::zeros((4, 3));
    assert_eq!(model.push_forward(0, wrong_dim.view()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut nan = Array2::<f64>::zeros((4, 2));
    nan[[1, 0]] = f64::NAN;
    assert_eq!(model.push_forward(0, nan.view()).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(model.push_forward(2, data.get(0).unwrap().points.view()).is_err());
    for (k, v) in [("jkonet_outer", "w2"), ("jkonet_epsilon", "-1"), ("jkonet_inner_steps", "0")] {
        assert_eq!(small_config(1).set(k, v).unwrap_err().kind(), ErrorKind::InvalidArgument, "{k}={v}");
    }
}

#[test]
fn outer_loss_teacher_forcing_and_update_options_change_training() {
    let data = quadratic_snapshots(60, 3, 7, DT);
    let x = data.get(0).unwrap().points.view();
    let run = |extra: &[(&str, &str)]| {
        let mut c = small_config(1);
        for (k, v) in extra {
            c.set(k, v).unwrap();
        }
        let mut t = JkonetTrainer::new(&c, &data).unwrap();
        let (outer, inner) = t.step().unwrap();
        assert!(outer.is_finite() && inner.is_finite());
        (outer, t.model().grad_potential(x, 0.0).unwrap())
    };
    let base = run(&[]);
    // The biased entropic cost exceeds the debiased divergence on the same batches.
    let entropic = run(&[("jkonet_outer", "entropic")]);
    assert!(entropic.0 > base.0, "entropic {} vs divergence {}", entropic.0, base.0);
    for extra in [[("jkonet_teacher_forcing", "false")], [("jkonet_update", "summed")], [("jkonet_unroll", "5")]] {
        let other = run(&extra);
        assert_ne!(other.1, base.1, "{extra:?} had no effect");
    }
}

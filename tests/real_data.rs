//! What real data need from every model: coordinates fitted inside the model (queries answer in the
//! data's units), the naive predictions stored beside it, and a training length chosen on
//! validation cells with the best parameters kept.

mod common;

use ijkonet::baselines::Baseline;
use ijkonet::methods::{self, validation_split};
use ijkonet::{Model, Snapshots, TrainConfig};
use ndarray::Array2;
use std::ops::ControlFlow;

fn affine(data: &Snapshots, scale: f64, shift: f64) -> Snapshots {
    Snapshots::new(data.times(), data.iter().map(|s| s.points.mapv(|v| v * scale + shift)).collect()).unwrap()
}

fn train(config: &TrainConfig, data: &Snapshots) -> Model {
    let mut t = methods::trainer(config, data).unwrap();
    t.train(0, None, &mut |_| ControlFlow::Continue(())).unwrap();
    t.into_model()
}

fn max_rel(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-12);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

/// Training on 100·x + 7 instead of x learns the same model in other units: predictions map by the
/// same affine change, ∇V scales by 100 (positions ×100 per unit time), V by 10⁴. Every method.
#[test]
fn scaled_and_shifted_data_give_the_same_model_in_their_units() {
    let data = common::quadratic_snapshots(60, 3, 4, 0.02);
    let big = affine(&data, 100.0, 7.0);
    for (method, variant) in [("ijkonet", "t,V"), ("ijkonet", "V"), ("jkonet_star", "V"), ("jkonet_star_linear", "V")] {
        let mut c = TrainConfig::default();
        c.set("method", method).unwrap();
        c.set("variant", variant).unwrap();
        c.set("iterations", "30").unwrap();
        c.set("device", "cpu").unwrap();
        if method == "jkonet_star" {
            c.set("epochs", "3").unwrap();
        }
        let (small_model, big_model) = (train(&c, &data), train(&c, &big));
        assert!((big_model.normalisation().scale / small_model.normalisation().scale - 100.0).abs() < 1e-9);
        let x = data.get(0).unwrap().points.clone();
        let xb = x.mapv(|v| v * 100.0 + 7.0);
        let p = small_model.push_forward(0, x.view()).unwrap();
        let pb = big_model.push_forward(0, xb.view()).unwrap();
        let err = max_rel(&pb, &p.mapv(|v| v * 100.0 + 7.0));
        assert!(err < 1e-4, "{method} {variant}: predictions differ by {err}");
        let g = small_model.grad_potential(x.view(), 0.02).unwrap();
        let gb = big_model.grad_potential(xb.view(), 0.02).unwrap();
        let err = max_rel(&gb, &(&g * 100.0));
        assert!(err < 1e-4, "{method} {variant}: ∇V differs by {err}");
        let v = small_model.potential(x.view(), 0.02).unwrap();
        let vb = big_model.potential(xb.view(), 0.02).unwrap();
        let scale = v.iter().map(|a| a.abs()).fold(0.0, f64::max);
        let err = vb.iter().zip(&v).map(|(a, b)| (a - b * 1e4).abs()).fold(0.0, f64::max) / (1e4 * scale);
        assert!(err < 1e-4, "{method} {variant}: V differs by {err}");
        if variant.contains('W') {
            let f = small_model.interaction_field(x.view(), x.view()).unwrap();
            let fb = big_model.interaction_field(xb.view(), xb.view()).unwrap();
            let err = max_rel(&fb, &(&f * 100.0));
            assert!(err < 1e-4, "{method} {variant}: interaction field differs by {err}");
        }
        if variant.contains('U') {
            let (t, tb) = (small_model.theta3(), big_model.theta3());
            assert!(t > 0.0 && (tb / (t * 1e4) - 1.0).abs() < 1e-4, "θ₃ {t} vs {tb}");
        }
    }
}

/// The naive predictions are stored with the model (and in its file) and evaluate to the W1 of
/// their own maps on the held-out cells; the warm-started iJKOnet starts no worse than the better
/// of mean shift and affine map on its validation cells.
#[test]
fn baselines_travel_with_the_model_and_the_warm_start_begins_at_them() {
    let data = common::quadratic_snapshots(150, 3, 5, 0.02);
    let (train_part, test) = data.split(0.4, 1).unwrap();
    let mut c = TrainConfig::default();
    c.set("iterations", "20").unwrap();
    c.set("device", "cpu").unwrap();
    let model = train(&c, &train_part);
    let base = model.baseline_w1(&test).unwrap();
    assert_eq!(base.iter().map(|(k, _)| *k).collect::<Vec<_>>(), Baseline::ALL.to_vec());
    let fits = model.baselines().unwrap();
    for (kind, w) in &base {
        for (k, wk) in w.iter().enumerate() {
            let pred = fits.predict(*kind, k, test.get(k).unwrap().points.view()).unwrap();
            let expect = ijkonet::metrics::ot::w1(pred.view(), test.get(k + 1).unwrap().points.view()).unwrap();
            assert!((wk - expect).abs() < 1e-12);
        }
    }
    // The attracting well moves the mean little but shrinks the cloud: the affine map beats the mean shift.
    let mean = |kind: Baseline| base.iter().find(|(k, _)| *k == kind).unwrap().1.iter().sum::<f64>();
    assert!(mean(Baseline::AffineOt) < mean(Baseline::MeanShift), "{base:?}");
    let summary = model.validation_summary().expect("iJKOnet validates by default");
    assert!(summary.best_w1 <= summary.initial_w1);

    let dir = std::env::temp_dir().join(format!("ijkonet-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(&path, None).unwrap();
    assert_eq!(loaded.baselines(), model.baselines());
    assert_eq!(loaded.normalisation(), model.normalisation());
    assert_eq!(loaded.validation_summary(), model.validation_summary());
    let x = test.get(1).unwrap().points.clone();
    assert!(max_rel(&loaded.push_forward(1, x.view()).unwrap(), &model.push_forward(1, x.view()).unwrap()) < 1e-6);
}

/// Early stopping keeps the parameters with the best validation score: the final model scores
/// exactly that on the validation cells, which is no worse than any score seen during training.
#[test]
fn early_stopping_keeps_the_best_validation_state() {
    let data = common::quadratic_snapshots(80, 3, 6, 0.02);
    let mut c = TrainConfig::default();
    for (k, v) in [("iterations", "120"), ("eval_interval", "10"), ("patience", "40"), ("validation", "0.3")] {
        c.set(k, v).unwrap();
    }
    c.set("device", "cpu").unwrap();
    let mut t = methods::trainer(&c, &data).unwrap();
    let mut seen = Vec::new();
    let history = t
        .train(0, None, &mut |p| {
            if let Some(v) = p.validation {
                seen.push(v);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    let model = t.into_model();
    let summary = *model.validation_summary().unwrap();
    let (_, val) = validation_split(&c, &data);
    let val = val.expect("enough cells for validation");
    let w = model.one_step_w1(&val).unwrap();
    let now = w.iter().sum::<f64>() / w.len() as f64;
    assert!((now - summary.best_w1).abs() < 1e-9, "kept model scores {now}, best was {}", summary.best_w1);
    assert!(!seen.is_empty() && seen.iter().all(|&s| summary.best_w1 <= s) && summary.best_w1 <= summary.initial_w1);
    assert_eq!(summary.epochs_run, history.len());
    assert!(history.len() <= 120, "the iteration budget bounds training");
    if summary.stop_reason == "patience" {
        assert!(history.len() < 120);
    }
}

/// Files of format version 1 (before normalisation and baselines) still load: identity coordinates,
/// no baseline fits (a clear state error when asked for them), the same predictions.
#[test]
fn version_one_model_files_still_load() {
    let data = common::quadratic_snapshots(60, 3, 7, 0.02);
    let mut c = TrainConfig::default();
    for (k, v) in [("iterations", "10"), ("device", "cpu"), ("normalise", "none"), ("warm_start", "none")] {
        c.set(k, v).unwrap();
    }
    let model = train(&c, &data);
    let dir = std::env::temp_dir().join(format!("ijkonet-v1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    model.save(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = format!("\"format_version\":\"{}\"", ijkonet::model::MODEL_FORMAT_VERSION);
    let pos = bytes.windows(needle.len()).position(|w| w == needle.as_bytes()).expect("version in header");
    bytes[pos + needle.len() - 2] = b'1';
    let old = dir.join("v1.safetensors");
    std::fs::write(&old, &bytes).unwrap();
    let loaded = Model::load(&old, None).unwrap();
    assert!(loaded.normalisation().is_identity() && loaded.baselines().is_none());
    assert_eq!(loaded.baseline_w1(&data).unwrap_err().kind(), ijkonet::ErrorKind::State);
    let x = data.get(0).unwrap().points.clone();
    assert_eq!(loaded.push_forward(0, x.view()).unwrap(), model.push_forward(0, x.view()).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

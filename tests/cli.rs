//! End-to-end tests of the `ijkonet` binary on tiny data: every subcommand, and the error paths
//! (one `error: …` line on stderr, non-zero exit status, no panic).

use ijkonet::baselines::Baseline;
use ijkonet::data::{read_npy_matrix, read_npz};
use ijkonet::metrics::ot;
use ijkonet::synth::{generate, Pairing, Potential, SdeConfig};
use ijkonet::Model;
use ndarray::Array2;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod tiny_cli;

const TINY: [&str; 12] = tiny_cli::tiny_training_args("batch_size=20");

/// A fresh, empty directory for one test.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ijkonet-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ijkonet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ijkonet")).args(args).current_dir(dir).output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run and require success, returning stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ijkonet(dir, args);
    assert!(out.status.success(), "ijkonet {args:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Run and require failure with the given exit code and exactly one `error: …` line on stderr,
/// which must mention every string in `mentions`.
fn fails(dir: &Path, args: &[&str], code: i32, mentions: &[&str]) {
    let out = ijkonet(dir, args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "ijkonet {args:?}: stderr {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "ijkonet {args:?}: expected one stderr line, got {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    for m in mentions {
        assert!(lines[0].contains(m), "ijkonet {args:?}: {stderr:?} should mention {m:?}");
    }
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 8 && b[..8] == *b"\x89PNG\r\n\x1a\n")
}

fn tiny_sde(seed: u64) -> SdeConfig {
    SdeConfig {
        potential: Some(Potential::StyblinskiTang),
        n_particles: 40,
        n_steps: 2,
        seed,
        pairing: Pairing::Unpaired,
        ..SdeConfig::default()
    }
}

#[test]
fn generate_writes_the_library_generators_data_and_its_ground_truth() {
    let dir = workdir("generate");
    ok(
        &dir,
        &[
            "generate",
            "--potential",
            "styblinski_tang",
            "--particles",
            "40",
            "--steps",
            "2",
            "--seed",
            "3",
            "-o",
            "d.npz",
        ],
    );
    let written = read_npz(dir.join("d.npz")).unwrap();
    let expected = generate(&tiny_sde(3)).unwrap().snapshots;
    assert_eq!(written, expected, "the CLI must write exactly what the generator produces");
    let truth = std::fs::read_to_string(dir.join("d.npz.truth.txt")).unwrap();
    assert!(truth.contains("potential=styblinski_tang") && truth.contains("dt=0.01"), "{truth}");

    ok(
        &dir,
        &[
            "generate",
            "--potential",
            "none",
            "--interaction",
            "sphere",
            "--symmetrised",
            "--beta",
            "0.5",
            "--particles",
            "10",
            "--steps",
            "1",
            "--dim",
            "3",
            "--paired",
            "-o",
            "w.npz",
        ],
    );
    let w = read_npz(dir.join("w.npz")).unwrap();
    assert_eq!((w.len(), w.dim(), w.sizes()), (2, 3, vec![10, 10]));
    let truth = std::fs::read_to_string(dir.join("w.npz.truth.txt")).unwrap();
    assert!(
        truth.contains("potential=none") && truth.contains("interaction=sphere") && truth.contains("symmetrised=true")
    );
}

#[test]
fn train_predict_simulate_eval_plot_pipeline() {
    let dir = workdir("pipeline");
    ok(
        &dir,
        &[
            "generate",
            "--potential",
            "styblinski_tang",
            "--particles",
            "40",
            "--steps",
            "2",
            "--seed",
            "1",
            "-o",
            "d.npz",
        ],
    );
    let mut args = vec!["train", "d.npz", "-o", "m.safetensors", "--test-fraction", "0.5", "--seed", "2"];
    args.extend_from_slice(&TINY);
    let stdout = ok(&dir, &args);
    assert!(stdout.contains("held-out"), "{stdout}");
    let history = std::fs::read_to_string(dir.join("m.safetensors.history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "header + one line per epoch: {history}");
    let model = Model::load(dir.join("m.safetensors"), None).unwrap();
    assert_eq!((model.epochs_done(), model.dim(), model.times().len()), (2, 2, 3));

    // predict: one learned step from snapshot 0 is the library's push-forward; two steps chain the maps.
    let data = read_npz(dir.join("d.npz")).unwrap();
    let x0 = data.get(0).unwrap().points.clone();
    ndarray_npy::write_npy(dir.join("x.npy"), &x0).unwrap();
    ok(&dir, &["predict", "m.safetensors", "--input", "x.npy", "--from-step", "0", "-o", "p1.npy"]);
    ok(&dir, &["predict", "m.safetensors", "--input", "x.npy", "--from-step", "0", "--steps", "2", "-o", "p2.npy"]);
    let p1 = read_npy_matrix(dir.join("p1.npy")).unwrap();
    let p2 = read_npy_matrix(dir.join("p2.npy")).unwrap();
    let lib1 = model.push_forward(0, x0.view()).unwrap();
    let lib2 = model.push_forward(1, lib1.view()).unwrap();
    let close =
        |a: &Array2<f64>, b: &Array2<f64>| a.dim() == b.dim() && a.iter().zip(b).all(|(u, v)| (u - v).abs() < 1e-9);
    assert!(close(&p1, &lib1) && close(&p2, &lib2));

    // potential / grad: the library's V and ∇V at the points, as .npy and as CSV on stdout.
    ok(&dir, &["grad", "m.safetensors", "x.npy", "--time", "0.01", "-o", "g.npy"]);
    let g = read_npy_matrix(dir.join("g.npy")).unwrap();
    assert!(close(&g, &model.grad_potential(x0.view(), 0.01).unwrap()));
    let csv = ok(&dir, &["potential", "m.safetensors", "x.npy", "--time", "0.01"]);
    let v: Vec<f64> = csv.lines().map(|l| l.parse().unwrap()).collect();
    let lib_v = model.potential(x0.view(), 0.01).unwrap();
    assert_eq!(v.len(), x0.nrows());
    assert!(v.iter().zip(&lib_v).all(|(a, b)| (a - b).abs() < 1e-9));
    let points: String = x0.rows().into_iter().map(|r| format!("{},{}\n", r[0], r[1])).collect();
    std::fs::write(dir.join("x.csv"), format!("x1,x2\n{points}")).unwrap();
    let from_csv = ok(&dir, &["grad", "m.safetensors", "x.csv", "--time", "0.01"]);
    let first: Vec<f64> = from_csv.lines().next().unwrap().split(',').map(|c| c.parse().unwrap()).collect();
    assert!((first[0] - g[[0, 0]]).abs() < 1e-9 && (first[1] - g[[0, 1]]).abs() < 1e-9);
    std::fs::write(dir.join("bad.csv"), "1,2\n3\n").unwrap();
    fails(&dir, &["grad", "m.safetensors", "bad.csv"], 1, &["bad.csv", "numeric columns"]);
    fails(&dir, &["grad", "m.safetensors", "x.csv", "--time", "nan"], 1, &["not finite"]);

    // info: what the file holds.
    let info = ok(&dir, &["info", "m.safetensors"]);
    for needle in ["method         ijkonet", "dimension      2", "epochs done    2", "normalisation", "baselines"] {
        assert!(info.contains(needle), "{needle} missing from:\n{info}");
    }

    // simulate: steps + 1 snapshots at t0 + s·dt, starting from the input.
    ok(
        &dir,
        &[
            "simulate",
            "m.safetensors",
            "--input",
            "x.npy",
            "--t0",
            "0.01",
            "--dt",
            "0.005",
            "--steps",
            "3",
            "-o",
            "traj.npz",
        ],
    );
    let traj = read_npz(dir.join("traj.npz")).unwrap();
    assert_eq!(traj.len(), 4);
    for (s, t) in traj.times().iter().enumerate() {
        assert!((t - (0.01 + 0.005 * s as f64)).abs() < 1e-12, "time {s}: {t}");
    }
    assert!(close(&traj.get(0).unwrap().points, &x0));

    // eval --json: parseable, per-step metrics consistent with each other and with the data.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["eval", "m.safetensors", "d.npz", "--json"])).unwrap();
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for (k, s) in steps.iter().enumerate() {
        let get = |key: &str| s[key].as_f64().unwrap_or_else(|| panic!("step {k}: {key} missing in {s}"));
        let (w1, w2) = (get("w1"), get("w2"));
        assert!(w1 > 0.0 && w2 >= w1 - 1e-9, "W2 ≥ W1 must hold: {w1} {w2}");
        assert!(get("mmd") >= 0.0 && get("bw_uvp") >= 0.0 && get("l2_uvp") >= 0.0);
        let a = &data.get(k).unwrap().points;
        let b = &data.get(k + 1).unwrap().points;
        assert!((get("baseline_w1") - ot::w1(a.view(), b.view()).unwrap()).abs() < 1e-9);
        let pred = model.push_forward(k, a.view()).unwrap();
        assert!((w1 - ot::w1(pred.view(), b.view()).unwrap()).abs() < 1e-9);
        // The naive predictions come from the model's stored fits of its training snapshots.
        let fits = model.baselines().expect("a trained model stores its baselines");
        for kind in Baseline::ALL {
            let expect = ot::w1(fits.predict(kind, k, a.view()).unwrap().view(), b.view()).unwrap();
            let got = s["baselines"][kind.name()].as_f64().unwrap();
            assert!((got - expect).abs() < 1e-9, "step {k} {kind}: {got} vs {expect}");
        }
    }
    let best = json["best_baseline"]["w1"].as_f64().unwrap();
    let name = json["best_baseline"]["name"].as_str().unwrap();
    assert_eq!(json["mean"]["baselines"][name].as_f64().unwrap(), best);
    assert_eq!(json["beats_best_baseline"].as_bool().unwrap(), json["mean"]["w1"].as_f64().unwrap() < best);
    let table = ok(&dir, &["eval", "m.safetensors", "d.npz", "--test-fraction", "0.5", "--seed", "2"]);
    assert!(table.contains("W1") && table.contains("mean"), "{table}");

    ok(&dir, &["plot", "m.safetensors", "d.npz", "-o", "figs", "--grid", "20"]);
    for f in ["potential.png", "snapshots.png", "training.png"] {
        assert!(is_png(&dir.join("figs").join(f)), "{f} is not a PNG");
    }
}

#[test]
fn train_reads_npy_with_labels_and_csv_with_a_named_label_column() {
    let dir = workdir("formats");
    let snaps = generate(&tiny_sde(5)).unwrap().snapshots;
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut csv = String::from("x,time,y\n");
    for s in snaps.iter() {
        for p in s.points.rows() {
            rows.extend_from_slice(&[p[0], p[1]]);
            labels.push(s.time);
            csv.push_str(&format!("{},{},{}\n", p[0], s.time, p[1]));
        }
    }
    let matrix = Array2::from_shape_vec((labels.len(), 2), rows).unwrap();
    ndarray_npy::write_npy(dir.join("data.npy"), &matrix).unwrap();
    ndarray_npy::write_npy(dir.join("labels.npy"), &ndarray::Array1::from(labels)).unwrap();
    std::fs::write(dir.join("data.csv"), csv).unwrap();

    let mut args = vec!["train", "data.npy", "--labels", "labels.npy", "-o", "a.safetensors", "--test-fraction", "0"];
    args.extend_from_slice(&TINY);
    let out = ok(&dir, &args);
    assert!(out.contains("3 snapshots [40, 40, 40]"), "{out}");
    let mut args = vec!["train", "data.csv", "--label-column", "time", "-o", "b.safetensors", "--variant", "V+W"];
    args.extend_from_slice(&TINY);
    let out = ok(&dir, &args);
    assert!(out.contains("iJKOnet_V+W") && out.contains("[24, 24, 24]"), "{out}");
    let m = Model::load(dir.join("b.safetensors"), None).unwrap();
    assert_eq!(m.config().energy.variant.to_string(), "V+W");
    // The CSV puts y after the label: the model sees (x, y) in that order, i.e. the same times.
    assert_eq!(m.times(), snaps.times().as_slice());
}

#[test]
fn errors_are_one_line_with_a_non_zero_status() {
    let dir = workdir("errors");
    ok(&dir, &["generate", "--particles", "20", "--steps", "1", "-o", "d.npz"]);
    let mut args = vec!["train", "d.npz", "-o", "m.safetensors", "--test-fraction", "0"];
    args.extend_from_slice(&TINY);
    ok(&dir, &args);
    ndarray_npy::write_npy(dir.join("x3.npy"), &Array2::<f64>::zeros((5, 3))).unwrap();

    // Missing files.
    fails(&dir, &["train", "missing.npz", "-o", "z.safetensors"], 1, &["missing.npz"]);
    fails(&dir, &["eval", "nothing.safetensors", "d.npz"], 1, &["nothing.safetensors"]);
    // Bad option values: from the command line parser (status 2) and from the library (status 1).
    fails(&dir, &["train", "d.npz", "-o", "z", "--epochs", "abc"], 2, &["--epochs", "abc"]);
    fails(&dir, &["train", "d.npz", "-o", "z", "--set", "energy_lr=nan"], 1, &["energy_lr"]);
    fails(&dir, &["train", "d.npz", "-o", "z", "--set", "learning_rate=1"], 1, &["learning_rate"]);
    fails(&dir, &["train", "d.npz", "-o", "z", "--set", "epochs"], 1, &["key=value"]);
    fails(&dir, &["generate", "--potential", "nope", "-o", "z.npz"], 1, &["nope"]);
    fails(&dir, &["predict", "m.safetensors", "--from-step", "0", "-o", "z.npy"], 2, &["--input"]);
    fails(&dir, &["frobnicate"], 2, &["frobnicate"]);
    // Wrong dimension, out-of-range step, mismatched data, data format problems.
    fails(
        &dir,
        &["predict", "m.safetensors", "--input", "x3.npy", "--from-step", "0", "-o", "z.npy"],
        1,
        &["dimension 3"],
    );
    fails(
        &dir,
        &["predict", "m.safetensors", "--input", "x3.npy", "--from-step", "9", "-o", "z.npy"],
        1,
        &["--from-step"],
    );
    fails(
        &dir,
        &["simulate", "m.safetensors", "--input", "x3.npy", "--dt", "0.01", "--steps", "2", "-o", "t.npz"],
        1,
        &["dimension"],
    );
    fails(&dir, &["train", "x3.npy", "-o", "z"], 1, &["--labels"]);
    fails(&dir, &["train", "d.npz.truth.txt", "-o", "z"], 1, &["unknown data format"]);
    fails(&dir, &["eval", "d.npz", "d.npz"], 1, &["not a model file"]);
    ok(&dir, &["generate", "--particles", "20", "--steps", "3", "-o", "four.npz"]);
    fails(&dir, &["eval", "m.safetensors", "four.npz"], 1, &["4 snapshots", "expects 2"]);
}

#[test]
fn train_selects_the_method_and_every_method_predicts_and_evaluates() {
    let dir = workdir("methods");
    ok(&dir, &["generate", "--particles", "60", "--steps", "2", "--potential", "styblinski_tang", "-o", "d.npz"]);
    let extra: &[(&str, &[&str])] = &[
        ("jkonet_star", &["--set", "star_gmm_components=2"]),
        ("jkonet_star_linear", &["--set", "star_poly_degree=2", "--set", "star_rbf_centres=3"]),
        (
            "jkonet",
            &["--set", "jkonet_icnn_hidden=8", "--set", "jkonet_inner_steps=3", "--set", "jkonet_predict_steps=5"],
        ),
    ];
    for (method, opts) in extra {
        let model = format!("{method}.safetensors");
        let mut args = vec!["train", "d.npz", "-o", model.as_str(), "--method", method, "--test-fraction", "0.5"];
        args.extend_from_slice(&TINY);
        args.extend_from_slice(opts);
        let out = ok(&dir, &args);
        let name = match *method {
            "jkonet_star" => "JKOnet*_t,V",
            "jkonet_star_linear" => "JKOnet*_l_V",
            // JKOnet's `variant=auto` is t,V, like iJKOnet's.
            _ => "JKOnet_t,V",
        };
        assert!(out.contains(&format!("training {name} ")), "{out}");
        let loaded = Model::load(dir.join(&model), None).unwrap();
        assert_eq!(loaded.method().name(), *method);
        let json = ok(&dir, &["eval", model.as_str(), "d.npz", "--test-fraction", "0.5", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["mean"]["w1"].as_f64().is_some_and(f64::is_finite), "{json}");
    }
    fails(&dir, &["train", "d.npz", "-o", "z", "--method", "jkonet3"], 1, &["jkonet3"]);
}

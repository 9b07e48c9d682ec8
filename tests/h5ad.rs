//! AnnData `.h5ad` input, on the fixtures that `tests/data/h5ad/make_fixtures.py` wrote with the
//! real `anndata` package. Every fixture value is a function of the row index (see the script), so
//! the expected arrays are recomputed here rather than stored.

use ijkonet::data::h5ad::parse_time_values;
use ijkonet::data::{read_h5ad, H5adOptions, Matrix};
use ijkonet::error::ErrorKind;
use ijkonet::Snapshots;
use std::path::{Path, PathBuf};

const N_PER: usize = 20;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/h5ad").join(name)
}

fn opts(matrix: Matrix, key: &str) -> H5adOptions {
    H5adOptions::new(matrix, key)
}

fn obsm(key: &str) -> Matrix {
    Matrix::Obsm(key.into())
}

/// obsm["X_pca"][i, j], computed as the script does (same f64 operations, so exact).
fn pca(i: usize, j: usize) -> f64 {
    let k = (i / N_PER) as f64;
    (k + 0.01 * i as f64) + 0.1 * j as f64
}

/// X[i, g] (float32 in the file).
fn x(i: usize, g: usize) -> f64 {
    (0.5 * i as f64 + g as f64) as f32 as f64
}

/// Snapshots hold rows grouped by time, in file order inside each group: snapshot k is rows
/// 20k..20k+20 of the file for every fixture here.
fn assert_values(s: &Snapshots, times: &[f64], dim: usize, value: impl Fn(usize, usize) -> f64) {
    assert_eq!(s.times(), times);
    assert_eq!(s.sizes(), vec![N_PER; times.len()]);
    assert_eq!(s.dim(), dim);
    for (k, snap) in s.iter().enumerate() {
        for ((r, j), &v) in snap.points.indexed_iter() {
            let i = k * N_PER + r;
            assert_eq!(v, value(i, j), "snapshot {k}, row {r} (cell {i}), column {j}");
        }
    }
}

fn err(name: &str, o: &H5adOptions) -> ijkonet::Error {
    let e = read_h5ad(fixture(name), o).expect_err("should be refused");
    assert!(!e.message().contains('\n'), "one line: {e:?}");
    assert!(e.message().starts_with(&fixture(name).display().to_string()), "prefixed with the path: {e:?}");
    e
}

fn assert_err(name: &str, o: &H5adOptions, kind: ErrorKind, mentions: &[&str]) {
    let e = err(name, o);
    assert_eq!(e.kind(), kind, "{e:?}");
    for m in mentions {
        assert!(e.message().contains(m), "{e:?} should mention {m:?}");
    }
}

#[test]
fn dense_reads_obsm_x_and_layers() {
    let f = fixture("dense.h5ad");
    let times = [0.0, 1.5, 4.0];
    assert_values(&read_h5ad(&f, &opts(obsm("X_pca"), "day")).unwrap(), &times, 4, pca);
    assert_values(&read_h5ad(&f, &opts(Matrix::X, "day")).unwrap(), &times, 5, x);
    let scaled = |i, g| ((0.5 * i as f64 + g as f64) as f32 / 10.0f32) as f64;
    assert_values(&read_h5ad(&f, &opts(Matrix::Layer("scaled".into()), "day")).unwrap(), &times, 5, scaled);
}

#[test]
fn sparse_csr_and_csc_are_densified() {
    let zeroed = |i: usize, g: usize| if (i + g).is_multiple_of(3) { 0.0 } else { x(i, g) };
    let s = read_h5ad(fixture("csr.h5ad"), &opts(Matrix::X, "day")).unwrap();
    // An integer time column.
    assert_values(&s, &[0.0, 2.0, 5.0], 5, zeroed);
    let s = read_h5ad(fixture("csr.h5ad"), &opts(Matrix::Layer("csc".into()), "day")).unwrap();
    assert_values(&s, &[0.0, 2.0, 5.0], 5, zeroed);
}

#[test]
fn categorical_numeric_labels_are_the_times() {
    for name in ["categorical_numeric.h5ad", "legacy_categorical.h5ad"] {
        let s = read_h5ad(fixture(name), &opts(obsm("X_pca"), "day")).unwrap();
        assert_values(&s, &[0.0, 3.0, 6.0], 4, pca);
    }
}

#[test]
fn ordered_labels_need_explicit_times() {
    let mut o = opts(obsm("X_pca"), "stage");
    assert_err(
        "ordered_labels.h5ad",
        &o,
        ErrorKind::InvalidData,
        &["ordered categorical", "day2 < day10 < day21", "--time-values"],
    );
    o.time_values = Some(parse_time_values("day2=2,day10=10,day21=21").unwrap());
    assert_values(&read_h5ad(fixture("ordered_labels.h5ad"), &o).unwrap(), &[2.0, 10.0, 21.0], 4, pca);
    // Times against the declared order, a missing label and an unknown one are refused.
    o.time_values = Some(parse_time_values("day2=2,day10=30,day21=21").unwrap());
    assert_err("ordered_labels.h5ad", &o, ErrorKind::InvalidArgument, &["contradict", "day10 < day21"]);
    o.time_values = Some(parse_time_values("day2=2,day10=10").unwrap());
    assert_err("ordered_labels.h5ad", &o, ErrorKind::InvalidArgument, &["no time given", "day21"]);
    o.time_values = Some(parse_time_values("day2=2,day10=10,day21=21,day3=3").unwrap());
    assert_err("ordered_labels.h5ad", &o, ErrorKind::InvalidArgument, &["'day3'", "day2, day10, day21"]);
}

#[test]
fn string_and_numeric_columns_with_explicit_times() {
    // Free-text strings are not times.
    assert_err(
        "dense.h5ad",
        &opts(obsm("X_pca"), "barcode"),
        ErrorKind::InvalidData,
        &["strings", "AC0000", "not a time column"],
    );
    // Explicit times do not apply to a numeric column (its values are the times).
    let mut o = opts(obsm("X_pca"), "day");
    o.time_values = Some(vec![("0".into(), 1.0)]);
    assert_err("dense.h5ad", &o, ErrorKind::InvalidArgument, &["numeric"]);
}

#[test]
fn nan_is_refused_with_its_place() {
    assert_err("nan.h5ad", &opts(Matrix::X, "day"), ErrorKind::InvalidData, &["'day'", "NaN", "45"]);
    assert_err("nan.h5ad", &opts(obsm("X_pca"), "day_ok"), ErrorKind::InvalidData, &["X_pca", "row 7, column 2"]);
    // The same column without the NaN reads.
    assert!(read_h5ad(fixture("nan.h5ad"), &opts(Matrix::X, "day_ok")).is_ok());
}

#[test]
fn missing_keys_list_what_is_there() {
    assert_err("dense.h5ad", &opts(obsm("X_umap"), "day"), ErrorKind::InvalidArgument, &["obsm['X_umap']", "X_pca"]);
    assert_err(
        "dense.h5ad",
        &opts(Matrix::Layer("counts".into()), "day"),
        ErrorKind::InvalidArgument,
        &["layers['counts']", "scaled"],
    );
    assert_err("dense.h5ad", &opts(obsm("X_pca"), "time"), ErrorKind::InvalidArgument, &["'time'", "day, barcode"]);
}

#[test]
fn malformed_and_unsupported_inputs() {
    // Rows that do not match obs.
    assert_err("mismatch.h5ad", &opts(obsm("X_pca"), "day"), ErrorKind::Format, &["59 rows", "60 cells"]);
    // A data frame in obsm is not a matrix.
    assert_err("nan.h5ad", &opts(obsm("meta"), "day_ok"), ErrorKind::Format, &["'dataframe'", "CSR"]);
    // Not HDF5, and no file at all.
    assert_err("make_fixtures.py", &opts(Matrix::X, "day"), ErrorKind::Format, &["not a readable HDF5 file"]);
    assert_err("absent.h5ad", &opts(Matrix::X, "day"), ErrorKind::Io, &["cannot open"]);
}

// ------------------------------------------------------------------------------------------- CLI

/// The command-line tool on .h5ad input (the `ijkonet` binary exists with the `cli` feature).
#[cfg(feature = "cli")]
mod tiny_cli;

#[cfg(feature = "cli")]
mod cli {
    use super::fixture;
    use ijkonet::Model;
    use std::path::Path;
    use std::process::{Command, Output};

    const TINY: [&str; 12] = super::tiny_cli::tiny_training_args("batch_size=10");

    fn ijkonet(dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ijkonet")).args(args).current_dir(dir).output().expect("binary runs")
    }

    fn ok(dir: &Path, args: &[&str]) -> String {
        let out = ijkonet(dir, args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "ijkonet {args:?} failed: {stdout}{stderr}");
        stdout.into_owned()
    }

    /// Exit status 1 and one `error: …` line mentioning every string in `mentions`.
    fn fails(dir: &Path, args: &[&str], mentions: &[&str]) {
        let out = ijkonet(dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "ijkonet {args:?}: {stderr:?}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(lines.len() == 1 && lines[0].starts_with("error: "), "ijkonet {args:?}: {stderr:?}");
        for m in mentions {
            assert!(lines[0].contains(m), "ijkonet {args:?}: {stderr:?} should mention {m:?}");
        }
    }

    #[test]
    fn cli_trains_evaluates_and_plots_from_h5ad() {
        let dir = std::env::temp_dir().join(format!("ijkonet-h5ad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dense = fixture("dense.h5ad").display().to_string();
        let ordered = fixture("ordered_labels.h5ad").display().to_string();
        let data: &[&str] = &[&dense, "--obsm", "X_pca", "--time-key", "day"];

        let mut args = vec!["train"];
        args.extend_from_slice(data);
        args.extend_from_slice(&["-o", "m.safetensors", "--test-fraction", "0.25"]);
        args.extend_from_slice(&TINY);
        ok(&dir, &args);
        let model = Model::load(dir.join("m.safetensors"), None).unwrap();
        assert_eq!((model.dim(), model.times()), (4, &[0.0, 1.5, 4.0][..]));

        let mut args = vec!["eval", "m.safetensors"];
        args.extend_from_slice(data);
        args.push("--json");
        let json: serde_json::Value = serde_json::from_str(&ok(&dir, &args)).unwrap();
        assert!(json.is_object() || json.is_array(), "{json}");
        let mut args = vec!["plot", "m.safetensors"];
        args.extend_from_slice(data);
        args.extend_from_slice(&["-o", "figs", "--grid", "10"]);
        ok(&dir, &args);
        assert!(std::fs::read_dir(dir.join("figs")).unwrap().count() > 0);

        // Non-numeric labels: refused with the flag to use, accepted with it.
        fails(
            &dir,
            &["train", &ordered, "--obsm", "X_pca", "--time-key", "stage", "-o", "o.safetensors"],
            &["--time-values"],
        );
        let mut args = vec!["train", &ordered, "--obsm", "X_pca", "--time-key", "stage"];
        args.extend_from_slice(&["--time-values", "day2=2,day10=10,day21=21", "-o", "o.safetensors"]);
        args.extend_from_slice(&TINY);
        ok(&dir, &args);
        assert_eq!(Model::load(dir.join("o.safetensors"), None).unwrap().times(), &[2.0, 10.0, 21.0]);

        // The flags belong to .h5ad, and .h5ad needs the time column.
        fails(&dir, &["train", &dense, "-o", "x.safetensors"], &["--time-key COLUMN"]);
        fails(&dir, &["train", "d.npz", "--obsm", "X_pca", "-o", "x.safetensors"], &["--obsm", ".h5ad"]);
        fails(&dir, &["eval", "m.safetensors", &dense, "--obsm", "X_umap", "--time-key", "day"], &["X_umap", "X_pca"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

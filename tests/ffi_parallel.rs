//! What a parallel simulation code needs from the C ABI: per-thread clones that answer exactly as
//! the original, queries with one time per row, and getters that describe the model.

mod common;
use common::quadratic_snapshots;
use ijkonet::ffi::*;
use std::ffi::{CStr, CString};
use std::ptr::null_mut;

fn last_message() -> String {
    unsafe { CStr::from_ptr(ijk_last_error_message()) }.to_string_lossy().into_owned()
}

/// A t,V model trained for a few steps on the quadratic-well snapshots.
fn trained() -> *mut IjkModel {
    let mut cfg = null_mut();
    assert_eq!(unsafe { ijk_config_new(&mut cfg, null_mut()) }, IJK_OK);
    let seed = common::test_seed().to_string();
    let pairs = [
        ("device", "cpu"),
        ("threads", "1"),
        ("variant", "t,V"),
        ("energy_hidden", "16,16"),
        ("map_hidden", "16,16"),
        ("validation", "0"),
        ("seed", seed.as_str()),
    ];
    for (k, v) in pairs {
        let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
        assert_eq!(unsafe { ijk_config_set_str(cfg, k.as_ptr(), v.as_ptr(), null_mut()) }, IJK_OK);
    }
    let mut model = null_mut();
    assert_eq!(unsafe { ijk_model_new(cfg, &mut model, null_mut()) }, IJK_OK);
    unsafe { ijk_config_free(cfg) };
    for s in quadratic_snapshots(50, 3, 21, 0.05).iter() {
        let x = s.points.as_slice().unwrap();
        assert_eq!(unsafe { ijk_model_add_snapshot_f64(model, s.time, x.as_ptr(), 50, 2, null_mut()) }, IJK_OK);
    }
    for _ in 0..5 {
        assert_eq!(unsafe { ijk_model_train_step(model, null_mut(), null_mut(), null_mut()) }, IJK_OK);
    }
    model
}

fn grad(model: *const IjkModel, x: &[f64], t: f64) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    let code = unsafe {
        ijk_model_grad_potential(model, x.as_ptr(), x.len() / 2, 2, t, out.as_mut_ptr(), out.len(), null_mut())
    };
    assert_eq!(code, IJK_OK, "{}", last_message());
    out
}

fn info(model: *const IjkModel, key: &str) -> Result<String, i32> {
    let key = CString::new(key).unwrap();
    let mut needed = 0usize;
    let code = unsafe { ijk_model_info(model, key.as_ptr(), null_mut(), 0, &mut needed, null_mut()) };
    if code != IJK_OK {
        return Err(code);
    }
    let mut buf = vec![0 as std::ffi::c_char; needed];
    let code = unsafe { ijk_model_info(model, key.as_ptr(), buf.as_mut_ptr(), buf.len(), &mut needed, null_mut()) };
    assert_eq!(code, IJK_OK);
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

#[test]
fn clones_answer_exactly_as_the_original_from_parallel_threads() {
    let model = trained();
    let x: Vec<f64> = (0..400).map(|i| ((i * 37) % 101) as f64 / 20.0 - 2.5).collect();
    let expected = grad(model, &x, 0.07);
    let mut clones: Vec<usize> = Vec::new();
    for _ in 0..3 {
        let mut c = null_mut();
        assert_eq!(unsafe { ijk_model_clone(model, &mut c, null_mut()) }, IJK_OK);
        clones.push(c as usize);
    }
    // The clones are independent handles: each thread queries its own, concurrently.
    let results: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = clones
            .iter()
            .map(|&c| {
                let x = &x;
                s.spawn(move || {
                    let runs: Vec<Vec<f64>> = (0..5).map(|_| grad(c as *const IjkModel, x, 0.07)).collect();
                    assert!(runs.windows(2).all(|w| w[0] == w[1]), "repeated queries agree");
                    runs[0].clone()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert_eq!(r, &expected, "a clone must give the original's ∇V bit for bit");
    }
    let c0 = clones[0] as *mut IjkModel;
    let mut state = -1;
    assert_eq!(unsafe { ijk_model_state(c0, &mut state, null_mut()) }, IJK_OK);
    assert_eq!(state, IJK_MODEL_LOADED);
    assert_eq!(unsafe { ijk_model_train_step(c0, null_mut(), null_mut(), null_mut()) }, IJK_ERR_STATE);
    // The original keeps training; its clones keep the parameters they were copied with.
    assert_eq!(unsafe { ijk_model_train_step(model, null_mut(), null_mut(), null_mut()) }, IJK_OK);
    assert_ne!(grad(model, &x, 0.07), expected);
    assert_eq!(grad(c0, &x, 0.07), expected);
    for c in clones {
        unsafe { ijk_model_free(c as *mut IjkModel) };
    }
    // No clone before training.
    let mut cfg = null_mut();
    let mut fresh = null_mut();
    let mut out = null_mut();
    unsafe {
        ijk_config_new(&mut cfg, null_mut());
        ijk_model_new(cfg, &mut fresh, null_mut());
        assert_eq!(ijk_model_clone(fresh, &mut out, null_mut()), IJK_ERR_STATE);
        assert!(out.is_null());
        ijk_model_free(fresh);
        ijk_config_free(cfg);
        ijk_model_free(model);
    }
}

#[test]
fn one_time_per_row_matches_one_time_per_call() {
    let model = trained();
    let x: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin() * 2.0).collect();
    let n = x.len() / 2;
    // Rows alternate between two times; each row must equal the single-time query at its time.
    let t: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 0.0 } else { 0.1 }).collect();
    let mut g = vec![0.0; x.len()];
    let mut v = vec![0.0; n];
    unsafe {
        let code =
            ijk_model_grad_potential_rows(model, x.as_ptr(), n, 2, t.as_ptr(), g.as_mut_ptr(), g.len(), null_mut());
        assert_eq!(code, IJK_OK, "{}", last_message());
        let code = ijk_model_potential_rows(model, x.as_ptr(), n, 2, t.as_ptr(), v.as_mut_ptr(), n, null_mut());
        assert_eq!(code, IJK_OK, "{}", last_message());
    }
    let (g0, g1) = (grad(model, &x, 0.0), grad(model, &x, 0.1));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * (1.0 + b.abs());
    for i in 0..n {
        let reference = if i % 2 == 0 { &g0 } else { &g1 };
        for j in 0..2 {
            assert!(close(g[2 * i + j], reference[2 * i + j]), "row {i}");
        }
    }
    // The time feature matters for t,V: the two times give different fields.
    assert!(g0.iter().zip(&g1).any(|(a, b)| !close(*a, *b)));
    for t_at in [0.0, 0.1] {
        let mut single = vec![0.0; n];
        let code = unsafe { ijk_model_potential(model, x.as_ptr(), n, 2, t_at, single.as_mut_ptr(), n, null_mut()) };
        assert_eq!(code, IJK_OK);
        for i in (0..n).filter(|i| t[*i] == t_at) {
            assert!(close(v[i], single[i]), "row {i}");
        }
    }
    // Bad times: NULL, non-finite.
    let mut bad = t.clone();
    bad[3] = f64::NAN;
    unsafe {
        let code =
            ijk_model_grad_potential_rows(model, x.as_ptr(), n, 2, bad.as_ptr(), g.as_mut_ptr(), g.len(), null_mut());
        assert_eq!(code, IJK_ERR_INVALID_ARGUMENT);
        assert!(last_message().contains("row 3"), "{}", last_message());
        let code = ijk_model_grad_potential_rows(
            model,
            x.as_ptr(),
            n,
            2,
            std::ptr::null(),
            g.as_mut_ptr(),
            g.len(),
            null_mut(),
        );
        assert_eq!(code, IJK_ERR_INVALID_ARGUMENT);
        ijk_model_free(model);
    }
}

#[test]
fn getters_describe_the_trained_model() {
    let model = trained();
    assert_eq!(info(model, "method").unwrap(), "ijkonet");
    assert_eq!(info(model, "variant").unwrap(), "t,V");
    assert_eq!(info(model, "device").unwrap(), "cpu");
    let norm = info(model, "normalisation").unwrap();
    assert!(norm.starts_with("centre=") && norm.contains(";scale="), "{norm}");
    assert_eq!(info(model, "colour"), Err(IJK_ERR_INVALID_ARGUMENT));
    assert!(last_message().contains("unknown model info key"), "{}", last_message());
    let mut epochs = u64::MAX;
    assert_eq!(unsafe { ijk_model_epochs_done(model, &mut epochs, null_mut()) }, IJK_OK);
    // Five iterations of one-epoch-per-snapshot-size batches: fewer than one full epoch or a few.
    assert!(epochs <= 5, "{epochs}");
    let key = CString::new("method").unwrap();
    let mut small = [0 as std::ffi::c_char; 3];
    let code = unsafe { ijk_model_info(model, key.as_ptr(), small.as_mut_ptr(), small.len(), null_mut(), null_mut()) };
    assert_eq!(code, IJK_ERR_INVALID_ARGUMENT, "a short buffer is refused");
    unsafe { ijk_model_free(model) };
}

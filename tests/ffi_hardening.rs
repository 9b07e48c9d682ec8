//! The C ABI under misuse and failure (issue 13): dead and foreign handles, panics inside queries,
//! a first training call that fails, non-finite results, bounded requests, devices and threads.
//! Driven from Rust through the same `extern "C"` functions a C program calls.

mod common;
use common::quadratic_snapshots;
use ijkonet::ffi::*;
use std::ffi::{c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

/// The tests change libtorch's process-wide thread count: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ijkonet-ffi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn last_message() -> String {
    unsafe { CStr::from_ptr(ijk_last_error_message()) }.to_string_lossy().into_owned()
}

fn config(pairs: &[(&str, &str)]) -> *mut IjkConfig {
    let mut cfg = null_mut();
    assert_eq!(unsafe { ijk_config_new(&mut cfg, null_mut()) }, IJK_OK);
    let seed = common::test_seed().to_string();
    let base = [("device", "cpu"), ("threads", "1"), ("variant", "V"), ("seed", seed.as_str())];
    for (k, v) in base.iter().chain(pairs) {
        let (k, v) = (CString::new(*k).unwrap(), CString::new(*v).unwrap());
        assert_eq!(unsafe { ijk_config_set_str(cfg, k.as_ptr(), v.as_ptr(), null_mut()) }, IJK_OK, "{k:?}={v:?}");
    }
    cfg
}

/// A model holding the quadratic-well snapshots (not trained yet).
fn collecting_model(pairs: &[(&str, &str)]) -> *mut IjkModel {
    let cfg = config(pairs);
    let mut model = null_mut();
    assert_eq!(unsafe { ijk_model_new(cfg, &mut model, null_mut()) }, IJK_OK);
    unsafe { ijk_config_free(cfg) };
    let data = quadratic_snapshots(40, 3, 11, 0.05);
    for s in data.iter() {
        let x = s.points.as_slice().unwrap();
        let code = unsafe { ijk_model_add_snapshot_f64(model, s.time, x.as_ptr(), s.points.nrows(), 2, null_mut()) };
        assert_eq!(code, IJK_OK);
    }
    model
}

fn state(model: *const IjkModel) -> i32 {
    let mut s = -1;
    assert_eq!(unsafe { ijk_model_state(model, &mut s, null_mut()) }, IJK_OK);
    s
}

fn trained_model() -> *mut IjkModel {
    let model = collecting_model(&[("energy_hidden", "16,16"), ("map_hidden", "16,16"), ("validation", "0")]);
    assert_eq!(unsafe { ijk_model_train_step(model, null_mut(), null_mut(), null_mut()) }, IJK_OK);
    model
}

#[test]
fn freed_and_foreign_handles_are_refused() {
    let _s = serial();
    let model = trained_model();
    let mut d = 0usize;
    assert_eq!(unsafe { ijk_model_dim(model, &mut d, null_mut()) }, IJK_OK);
    assert_eq!(d, 2);
    // A pointer to something that is not a model: zeros where the tag should be.
    let junk = vec![0u64; 4096];
    let foreign = junk.as_ptr() as *const IjkModel;
    assert_eq!(unsafe { ijk_model_dim(foreign, &mut d, null_mut()) }, IJK_ERR_INVALID_ARGUMENT);
    assert!(last_message().contains("not a live ijk_model"), "{}", last_message());
    // A configuration passed where a model is expected.
    let cfg = config(&[]);
    assert_eq!(unsafe { ijk_model_dim(cfg as *const IjkModel, &mut d, null_mut()) }, IJK_ERR_INVALID_ARGUMENT);
    // Freeing a foreign pointer is ignored instead of corrupting the heap.
    unsafe { ijk_model_free(junk.as_ptr() as *mut IjkModel) };
    unsafe { ijk_config_free(cfg) };
    unsafe { ijk_model_free(model) };
    // Use after free and double free, detected by the overwritten tag as long as the allocator has
    // not handed the memory to a new model (nothing is allocated in between here).
    assert_eq!(unsafe { ijk_model_dim(model, &mut d, null_mut()) }, IJK_ERR_INVALID_ARGUMENT);
    unsafe { ijk_model_free(model) };
    // Misaligned pointers are refused before any read.
    let odd = unsafe { (junk.as_ptr() as *const u8).add(1) } as *const IjkModel;
    assert_eq!(unsafe { ijk_model_dim(odd, &mut d, null_mut()) }, IJK_ERR_INVALID_ARGUMENT);
    assert!(last_message().contains("misaligned"), "{}", last_message());
}

#[test]
fn a_first_training_call_that_fails_leaves_the_model_collecting() {
    let _s = serial();
    let wild = [("energy_lr", "1e30"), ("energy_clip", "none"), ("map_lr", "1e30"), ("validation", "0")];
    let model = collecting_model(&wild);
    // Learning rates of 1e30 blow the parameters up in the first update: the first step fails.
    assert_eq!(unsafe { ijk_model_train_step(model, null_mut(), null_mut(), null_mut()) }, IJK_ERR_NUMERICAL);
    // Nothing was learned: the handle is COLLECTING again, with its snapshots, and queries say so.
    assert_eq!(state(model), IJK_MODEL_COLLECTING);
    let mut d = 0usize;
    assert_eq!(unsafe { ijk_model_dim(model, &mut d, null_mut()) }, IJK_ERR_STATE);
    // Training can be attempted again from the kept snapshots (and fails the same way).
    assert_eq!(unsafe { ijk_model_train_step(model, null_mut(), null_mut(), null_mut()) }, IJK_ERR_NUMERICAL);
    assert_eq!(state(model), IJK_MODEL_COLLECTING);
    // More snapshots may still be added.
    let x = [0.0, 1.0, 2.0, 3.0];
    assert_eq!(unsafe { ijk_model_add_snapshot_f64(model, 99.0, x.as_ptr(), 2, 2, null_mut()) }, IJK_OK);
    unsafe { ijk_model_free(model) };

    // Cancelling at the first epoch keeps that completed epoch: TRAINED.
    let model = collecting_model(&[("validation", "0"), ("energy_hidden", "8"), ("map_hidden", "8")]);
    unsafe extern "C" fn stop(_p: *const IjkProgress, _u: *mut c_void) -> i32 {
        1
    }
    let code = unsafe { ijk_model_train(model, u64::MAX, Some(stop), null_mut(), null_mut()) };
    assert_eq!(code, IJK_ERR_CANCELLED, "{}", last_message());
    assert_eq!(state(model), IJK_MODEL_TRAINED);
    unsafe { ijk_model_free(model) };
}

#[test]
fn progress_reports_its_size_and_huge_epoch_counts_allocate_nothing() {
    let _s = serial();
    let model = collecting_model(&[("validation", "0"), ("energy_hidden", "8"), ("map_hidden", "8")]);
    struct Seen {
        sizes: Vec<usize>,
        epochs: Vec<u64>,
    }
    unsafe extern "C" fn record(p: *const IjkProgress, u: *mut c_void) -> i32 {
        let (p, seen) = unsafe { (&*p, &mut *(u as *mut Seen)) };
        seen.sizes.push(p.struct_size);
        seen.epochs.push(p.epochs);
        i32::from(seen.sizes.len() >= 3)
    }
    let mut seen = Seen { sizes: Vec::new(), epochs: Vec::new() };
    let code =
        unsafe { ijk_model_train(model, u64::MAX, Some(record), &mut seen as *mut Seen as *mut c_void, null_mut()) };
    assert_eq!(code, IJK_ERR_CANCELLED);
    assert_eq!(seen.sizes, vec![std::mem::size_of::<IjkProgress>(); 3]);
    assert!(seen.epochs.iter().all(|&e| e == u64::MAX), "{:?}", seen.epochs);
    // The handle is usable after the callback-driven exit (the training mark was cleared).
    assert_eq!(state(model), IJK_MODEL_TRAINED);
    unsafe { ijk_model_free(model) };
}

#[test]
fn non_finite_results_are_errors_not_ok() {
    let _s = serial();
    let model = trained_model();
    // Finite in f64, infinite in the f32 networks.
    let x = [1e300, -1e300];
    let mut out = [7.0; 2];
    let code = unsafe { ijk_model_grad_potential(model, x.as_ptr(), 1, 2, 0.0, out.as_mut_ptr(), 2, null_mut()) };
    assert_eq!(code, IJK_ERR_NUMERICAL, "{}", last_message());
    assert!(last_message().contains("not finite"), "{}", last_message());
    assert_eq!(out, [7.0; 2], "nothing is written on failure");
    let mut v = [7.0];
    let code = unsafe { ijk_model_potential(model, x.as_ptr(), 1, 2, 0.0, v.as_mut_ptr(), 1, null_mut()) };
    assert_eq!(code, IJK_ERR_NUMERICAL, "{}", last_message());
    let code = unsafe { ijk_model_predict_step(model, 0, x.as_ptr(), 1, 2, out.as_mut_ptr(), 2, null_mut()) };
    assert_eq!(code, IJK_ERR_NUMERICAL, "{}", last_message());
    unsafe { ijk_model_free(model) };
}

/// Rewrite one metadata entry of a safetensors model file (the JSON header is length-prefixed).
fn rewrite_metadata(path: &std::path::Path, key: &str, value: &str) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"][key] = serde_json::Value::String(value.to_string());
    let mut json = serde_json::to_vec(&header).unwrap();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn models_load_on_a_chosen_device_and_a_missing_gpu_falls_back_to_the_cpu() {
    let _s = serial();
    let path = scratch("device").join("m.safetensors");
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    let model = trained_model();
    assert_eq!(unsafe { ijk_model_save(model, cpath.as_ptr(), null_mut()) }, IJK_OK);
    let load = |device: Option<&str>| {
        let dev = device.map(|d| CString::new(d).unwrap());
        let mut out = null_mut();
        let code = unsafe {
            ijk_model_load_on(cpath.as_ptr(), dev.as_ref().map_or(null(), |d| d.as_ptr()), &mut out, null_mut())
        };
        (code, out)
    };
    let (code, cpu) = load(Some("cpu"));
    assert_eq!(code, IJK_OK);
    assert_eq!(state(cpu), IJK_MODEL_LOADED);
    unsafe { ijk_model_free(cpu) };
    for bad in ["tpu", "cuda:x", ""] {
        let (code, out) = load(Some(bad));
        assert_eq!(code, IJK_ERR_INVALID_ARGUMENT, "{bad}");
        assert!(out.is_null());
        assert!(last_message().contains("invalid device"), "{}", last_message());
    }
    // A model saved on a GPU this machine lacks (index 63: no test machine has 64 GPUs).
    rewrite_metadata(&path, "config.device", "cuda:63");
    let (code, out) = load(None);
    assert_eq!(code, IJK_OK, "{}", last_message());
    let mut g = [0.0; 2];
    let x = [0.1, 0.2];
    assert_eq!(unsafe { ijk_model_grad_potential(out, x.as_ptr(), 1, 2, 0.0, g.as_mut_ptr(), 2, null_mut()) }, IJK_OK);
    unsafe { ijk_model_free(out) };
    let mut plain = null_mut();
    assert_eq!(unsafe { ijk_model_load(cpath.as_ptr(), &mut plain, null_mut()) }, IJK_OK);
    unsafe { ijk_model_free(plain) };
    // Asking for that GPU explicitly is an error that says so.
    let (code, out) = load(Some("cuda:63"));
    assert_eq!(code, IJK_ERR_INVALID_ARGUMENT);
    assert!(out.is_null());
    assert!(last_message().contains("cuda:63"), "{}", last_message());
    unsafe { ijk_model_free(model) };
}

#[test]
fn loading_keeps_the_thread_count_and_thread_counts_are_bounded() {
    let _s = serial();
    let path = CString::new(scratch("threads").join("m.safetensors").to_str().unwrap()).unwrap();
    let model = trained_model(); // trained with threads = 1
    assert_eq!(unsafe { ijk_model_save(model, path.as_ptr(), null_mut()) }, IJK_OK);
    assert_eq!(unsafe { ijk_set_num_threads(3, null_mut()) }, IJK_OK);
    let mut loaded = null_mut();
    assert_eq!(unsafe { ijk_model_load(path.as_ptr(), &mut loaded, null_mut()) }, IJK_OK);
    assert_eq!(ijk_get_num_threads(), 3, "loading must not change the process-wide thread count");
    for bad in [0, -1, 1_000_000] {
        assert_eq!(unsafe { ijk_set_num_threads(bad, null_mut()) }, IJK_ERR_INVALID_ARGUMENT, "{bad}");
    }
    let cfg = config(&[]);
    let (k, v) = (CString::new("threads").unwrap(), CString::new("100000").unwrap());
    assert_eq!(unsafe { ijk_config_set_str(cfg, k.as_ptr(), v.as_ptr(), null_mut()) }, IJK_ERR_INVALID_ARGUMENT);
    unsafe {
        ijk_config_free(cfg);
        ijk_model_free(loaded);
        ijk_model_free(model);
        ijk_set_num_threads(1, null_mut());
    }
}

#[test]
fn crafted_model_files_are_refused_before_allocating() {
    let _s = serial();
    let path = scratch("crafted").join("m.safetensors");
    let model = trained_model();
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { ijk_model_save(model, cpath.as_ptr(), null_mut()) }, IJK_OK);
    unsafe { ijk_model_free(model) };
    // Networks of 16384² weights per layer over 60000 dimensions would need tens of GB: the stored
    // tensors (a few thousand values) cannot hold them, so the file is refused first.
    rewrite_metadata(&path, "config.energy_hidden", "16384,16384");
    rewrite_metadata(&path, "dim", "60000");
    let e = ijkonet::model::Model::load(&path, None).err().unwrap();
    assert_eq!(e.code(), IJK_ERR_FORMAT, "{e}");
    assert!(e.message().contains("parameters"), "{e}");
    rewrite_metadata(&path, "dim", "100000000");
    let e = ijkonet::model::Model::load(&path, None).err().unwrap();
    assert_eq!(e.code(), IJK_ERR_FORMAT, "{e}");
    assert!(e.message().contains("out of range"), "{e}");
    // Layer widths beyond the bound are refused by the configuration parser itself.
    rewrite_metadata(&path, "dim", "2");
    rewrite_metadata(&path, "config.energy_hidden", "1000000");
    assert_eq!(ijkonet::model::Model::load(&path, None).err().unwrap().code(), IJK_ERR_FORMAT);
}

#[test]
fn huge_simulations_are_refused_and_large_queries_are_chunked() {
    let _s = serial();
    let data = quadratic_snapshots(40, 3, 12, 0.05);
    let mut c = ijkonet::config::TrainConfig { epochs: 1, ..Default::default() };
    for (k, v) in [("device", "cpu"), ("threads", "1"), ("variant", "V"), ("validation", "0")] {
        c.set(k, v).unwrap();
    }
    let model = ijkonet::methods::fit(&c, &data).unwrap();
    let x0 = data.get(0).unwrap().points.view();
    for steps in [usize::MAX, usize::MAX - 1, 1 << 40] {
        let e = model.simulate(x0, 0.0, 0.01, steps, 0).unwrap_err();
        assert_eq!(e.code(), IJK_ERR_INVALID_ARGUMENT, "{e}");
        assert!(e.message().contains("segments"), "{e}");
    }
    // More rows than one network call takes: the chunks are stitched back in order.
    let n = ijkonet::model::QUERY_CHUNK_ROWS + 123;
    let big = ndarray::Array2::from_shape_fn((n, 2), |(i, j)| ((i * 7 + j * 3) % 101) as f64 / 25.0 - 2.0);
    let g = model.grad_potential(big.view(), 0.0).unwrap();
    let v = model.potential(big.view(), 0.0).unwrap();
    let y = model.push_forward(0, big.view()).unwrap();
    assert_eq!((g.nrows(), v.len(), y.nrows()), (n, n, n));
    let tail = big.slice(ndarray::s![n - 5.., ..]);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + b.abs());
    let g_tail = model.grad_potential(tail, 0.0).unwrap();
    let y_tail = model.push_forward(0, tail).unwrap();
    let v_tail = model.potential(tail, 0.0).unwrap();
    for i in 0..5 {
        for j in 0..2 {
            assert!(close(g[[n - 5 + i, j]], g_tail[[i, j]]), "row {i}");
            assert!(close(y[[n - 5 + i, j]], y_tail[[i, j]]), "row {i}");
        }
        assert!(close(v[n - 5 + i], v_tail[i]), "row {i}");
    }
}

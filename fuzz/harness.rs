//! The fuzz targets' bodies, shared by the libFuzzer binaries (fuzz_targets/) and the replay of
//! committed crashing inputs (tests/fuzz_regressions.rs), so a regression runs exactly what crashed.
#![allow(dead_code)]

use ijkonet::ffi::*;
use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;
use std::ptr;

/// A per-process scratch file (in /dev/shm when it exists: RAM-backed, so millions of writes cost no
/// disk I/O). The name carries the pid and thread so parallel runs never share a file.
pub fn scratch(ext: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    dir.join(format!("ijkonet-fuzz-{}-{thread}.{ext}", std::process::id()))
}

/// Write `data` to the scratch file for `ext` and return its path.
pub fn write_scratch(ext: &str, data: &[u8]) -> PathBuf {
    let p = scratch(ext);
    std::fs::write(&p, data).expect("scratch file writable");
    p
}

/// .npy readers: the first byte picks the reader, the rest is the file.
pub fn npy(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else { return };
    let p = write_scratch("npy", file);
    match mode % 3 {
        0 => drop(ijkonet::data::read_npy_matrix(&p)),
        1 => drop(ijkonet::data::read_npy_vector(&p)),
        // The same bytes as data and labels: exercises the grouping of rows by label.
        _ => drop(ijkonet::data::read_labelled_npy(&p, &p)),
    }
}

/// The .npz reader.
pub fn npz(data: &[u8]) {
    let p = write_scratch("npz", data);
    let _ = ijkonet::data::read_npz(&p);
}

/// The .csv reader with every header mode and label choice: the first byte picks the options.
pub fn csv(data: &[u8]) {
    use ijkonet::data::{CsvHeader, CsvOptions, LabelColumn};
    let Some((&mode, file)) = data.split_first() else { return };
    let header = [CsvHeader::Auto, CsvHeader::Present, CsvHeader::Absent][usize::from(mode % 3)];
    let label = match (mode / 3) % 4 {
        0 => LabelColumn::Last,
        1 => LabelColumn::Index(usize::from(mode / 12)),
        2 => LabelColumn::Name("day".into()),
        _ => LabelColumn::Index(usize::MAX),
    };
    let delimiter = if mode >= 128 { b';' } else { b',' };
    let p = write_scratch("csv", file);
    let _ = ijkonet::data::read_csv(&p, &CsvOptions { header, label, delimiter });
}

/// The configuration key/value parser through the Rust API and the C ABI. The input is "key=value"
/// lines applied in order to one configuration; every accepted set must leave a configuration that
/// validates, whose value reads back and sets again, and the C ABI must agree with the Rust API.
pub fn config(data: &[u8]) {
    use ijkonet::TrainConfig;

    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut cfg = TrainConfig::default();
    let mut handle = ptr::null_mut();
    assert_eq!(unsafe { ijk_config_new(&mut handle, ptr::null_mut()) }, 0);
    for line in text.lines().take(64) {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let rust = cfg.set(key, value);
        if rust.is_ok() {
            cfg.validate().expect("a configuration accepted by set validates");
            // What get returns must be accepted by set again.
            let shown = cfg.get(key).expect("a key just set can be read");
            let mut again = cfg.clone();
            again.set(key, &shown).unwrap_or_else(|e| panic!("{key}={shown:?} read back but refused: {e}"));
        }
        // The C path sees the same strings (NUL bytes are refused by CString, as C cannot pass them).
        let (Ok(k), Ok(v)) = (CString::new(key), CString::new(value)) else { continue };
        let mut err = ptr::null_mut();
        let rc = unsafe { ijk_config_set_str(handle, k.as_ptr(), v.as_ptr(), &mut err) };
        assert_eq!(rc == 0, rust.is_ok(), "C and Rust disagree on {key}={value:?}");
        assert_eq!(rc == 0, err.is_null());
        unsafe { ijk_error_free(err) };
        let mut needed = 0usize;
        let mut buf = [0 as std::ffi::c_char; 8];
        // A short buffer must be refused without writing past it (ASan); the status is not checked.
        let _ =
            unsafe { ijk_config_get(handle, k.as_ptr(), buf.as_mut_ptr(), buf.len(), &mut needed, ptr::null_mut()) };
    }
    unsafe { ijk_config_free(handle) };
}

/// The model-file loader: any byte string must load or give an error; a model that loads must
/// answer small queries (errors allowed) without a panic or abort.
pub fn model_load(data: &[u8]) {
    use ijkonet::Model;
    use ndarray::Array2;

    let p = write_scratch("safetensors", data);
    let Ok(m) = Model::load(&p, None) else { return };
    // Small queries only: a mutated file may declare a large dimension (errors are fine, a crash is not).
    let d = m.dim();
    if d == 0 || d > 64 {
        return;
    }
    let x = Array2::from_shape_fn((3, d), |(i, j)| (i as f64) - 0.5 * (j as f64));
    let _ = m.potential(x.view(), 0.0);
    let _ = m.grad_potential(x.view(), 0.0);
    let _ = m.push_forward(0, x.view());
    let _ = m.interaction_field(x.view(), x.view());
    let _ = m.simulate(x.view(), 0.0, 0.1, 2, 0);
    let _ = m.theta3();
}

/// Reads the input byte by byte; an exhausted input reads as zeros and ends the sequence.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }
    fn value(&mut self) -> f64 {
        match self.byte() {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 1e300,
            4 => -1e300,
            5 => 1e-300,
            6 => f64::MAX,
            b => f64::from(b as i8) / 16.0,
        }
    }
}

const TIMES: [f64; 8] = [0.0, 1.0, 2.0, 0.5, 1.0, -1.0, f64::NAN, 1e-12];
const VALUES: [&str; 24] = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "",
    "nan",
    "inf",
    "1e308",
    "0.5",
    "1e-9",
    "4",
    "4,4",
    "0,4",
    "cpu",
    "cuda",
    "auto",
    "V",
    "t,V",
    "V+W+U",
    "true",
    "none",
    "jkonet",
    "jkonet_star_linear",
];
const METHODS: [&str; 4] = ["ijkonet", "jkonet_star", "jkonet_star_linear", "jkonet"];

/// Status and error object must agree; the error is freed.
fn check(rc: i32, err: *mut IjkError) {
    assert_eq!(rc == 0, err.is_null(), "status {rc} with error object {err:?}");
    if !err.is_null() {
        assert_eq!(unsafe { ijk_error_code(err) }, rc);
        let message = unsafe { ijk_error_message(err) };
        assert!(!message.is_null());
        // A panic caught at the ABI boundary is still a bug (libFuzzer aborts on the panic itself;
        // the replay in tests/fuzz_regressions.rs, without libFuzzer's hook, gets here).
        assert_ne!(rc, IJK_ERR_PANIC, "caught panic: {:?}", unsafe { std::ffi::CStr::from_ptr(message) });
        // The ABI turns a panic inside tch into IJK_ERR_TORCH; with these tiny CPU inputs no real
        // libtorch failure (out of memory) can happen, so that status is a bad argument let through.
        assert_ne!(rc, IJK_ERR_TORCH, "libtorch failure: {:?}", unsafe { std::ffi::CStr::from_ptr(message) });
        unsafe { ijk_error_free(err) };
    }
}

/// A tiny, fast configuration: small networks, one map update per step, CPU.
fn tiny_config(method: &str) -> *mut IjkConfig {
    let mut c = ptr::null_mut();
    assert_eq!(unsafe { ijk_config_new(&mut c, ptr::null_mut()) }, 0);
    for (k, v) in [
        ("method", method),
        ("device", "cpu"),
        ("threads", "1"),
        ("energy_hidden", "4"),
        ("map_hidden", "4"),
        ("iterations", "1"),
        ("epochs", "1"),
        ("map_steps", "1"),
        ("batch_size", "8"),
        // JKOnet's defaults (100 inner steps, 64×64 ICNN) take seconds per step.
        ("jkonet_icnn_hidden", "4"),
        ("jkonet_inner_steps", "2"),
    ] {
        let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
        // Keys a method lacks are refused; that is fine here.
        let mut err = ptr::null_mut();
        let rc = unsafe { ijk_config_set_str(c, k.as_ptr(), v.as_ptr(), &mut err) };
        check(rc, err);
    }
    c
}

unsafe extern "C" fn progress(_: *const IjkProgress, user: *mut c_void) -> i32 {
    // Cancels after the first epoch when asked to.
    i32::from(!user.is_null())
}

/// Sequences of C calls on configuration and model handles: the input is decoded into up to 40
/// calls of the public `ijk_*` functions (odd shapes, NaN, duplicate times, NULL handles, short
/// output buffers, save/load). Sizes stay tiny so an input runs in milliseconds. Nothing may crash,
/// write past a buffer (ASan), or leak a handle (every handle is freed at the end).
pub fn ffi_calls(data: &[u8]) {
    let mut b = Bytes(data);
    let mut configs: [*mut IjkConfig; 2] = [ptr::null_mut(); 2];
    let mut models: [*mut IjkModel; 3] = [ptr::null_mut(); 3];
    let path = scratch("model");
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    let key_count = ijk_config_key_count();
    for _ in 0..40 {
        if b.0.is_empty() {
            break;
        }
        let op = b.byte();
        let m = models[usize::from(b.byte()) % 3];
        let mut err: *mut IjkError = ptr::null_mut();
        // Sizes of the point buffers: n in 0..=5, d in 0..=3 (a wrong d is part of the test).
        let (n, d) = (usize::from(b.byte() % 6), usize::from(b.byte() % 4));
        let x: Vec<f64> = (0..n * d).map(|_| b.value()).collect();
        // Output buffers: exact, one short or one long.
        let out_len = |need: usize, b: &mut Bytes| match b.byte() % 3 {
            0 => need.saturating_sub(1),
            1 => need + 1,
            _ => need,
        };
        let rc = match op % 20 {
            0 => {
                let slot = usize::from(b.byte()) % 2;
                unsafe { ijk_config_free(configs[slot]) };
                configs[slot] = tiny_config(b.pick(&METHODS));
                0
            }
            1 => {
                let c = configs[usize::from(b.byte()) % 2];
                let idx = usize::from(b.byte());
                let key = ijk_config_key(idx % (key_count + 1));
                let unknown = CString::new("no_such_key").unwrap();
                let key = if key.is_null() { unknown.as_ptr() } else { key };
                let value = CString::new(b.pick(&VALUES)).unwrap();
                unsafe { ijk_config_set_str(c, key, value.as_ptr(), &mut err) }
            }
            2 => {
                let c = configs[usize::from(b.byte()) % 2];
                let slot = usize::from(b.byte()) % 3;
                let mut out = ptr::null_mut();
                let rc = unsafe { ijk_model_new(c, &mut out, &mut err) };
                if rc == 0 {
                    unsafe { ijk_model_free(models[slot]) };
                    models[slot] = out;
                } else {
                    assert!(out.is_null(), "a failed ijk_model_new wrote a handle");
                }
                rc
            }
            3 => unsafe { ijk_model_add_snapshot_f64(m, b.pick(&TIMES), x.as_ptr(), n, d, &mut err) },
            4 => {
                let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                unsafe { ijk_model_add_snapshot_f32(m, b.pick(&TIMES), xf.as_ptr(), n, d, &mut err) }
            }
            5 | 6 => {
                let (mut el, mut ml) = (0.0, 0.0);
                unsafe { ijk_model_train_step(m, &mut el, &mut ml, &mut err) }
            }
            7 => {
                let cancel = if b.byte() % 2 == 0 { ptr::null_mut() } else { ptr::dangling_mut::<c_void>() };
                let cb = if b.byte() % 2 == 0 { None } else { Some(progress as _) };
                unsafe { ijk_model_train(m, u64::from(b.byte() % 2), cb, cancel, &mut err) }
            }
            8 => {
                let k = usize::from(b.byte() % 4);
                let mut out = vec![0.0; out_len(n * d, &mut b)];
                unsafe { ijk_model_predict_step(m, k, x.as_ptr(), n, d, out.as_mut_ptr(), out.len(), &mut err) }
            }
            9 => {
                let mut out = vec![0.0; out_len(n, &mut b)];
                let t = b.value();
                unsafe { ijk_model_potential(m, x.as_ptr(), n, d, t, out.as_mut_ptr(), out.len(), &mut err) }
            }
            10 => {
                let mut out = vec![0.0; out_len(n * d, &mut b)];
                let t = b.value();
                unsafe { ijk_model_grad_potential(m, x.as_ptr(), n, d, t, out.as_mut_ptr(), out.len(), &mut err) }
            }
            11 => {
                let (from, steps) = (usize::from(b.byte() % 3), usize::from(b.byte() % 3));
                let mut out = vec![0.0; out_len(steps * n * d, &mut b)];
                unsafe { ijk_model_rollout(m, from, steps, x.as_ptr(), n, d, out.as_mut_ptr(), out.len(), &mut err) }
            }
            12 => {
                let steps = usize::from(b.byte() % 4);
                let dt = b.pick(&[0.1, 0.0, -0.1, f64::NAN, 1e300]);
                let mut out = vec![0.0; out_len((steps + 1) * n * d, &mut b)];
                let (t0, seed) = (b.value(), u64::from(b.byte()));
                unsafe {
                    ijk_model_simulate(m, x.as_ptr(), n, d, t0, dt, steps, seed, out.as_mut_ptr(), out.len(), &mut err)
                }
            }
            13 => {
                let mut out = vec![0.0; out_len(n * d, &mut b)];
                let pop_n = usize::from(b.byte() % 4);
                let pop: Vec<f64> = (0..pop_n * d).map(|_| b.value()).collect();
                unsafe {
                    ijk_model_interaction_field(
                        m,
                        x.as_ptr(),
                        n,
                        pop.as_ptr(),
                        pop_n,
                        d,
                        out.as_mut_ptr(),
                        out.len(),
                        &mut err,
                    )
                }
            }
            14 => unsafe { ijk_model_save(m, cpath.as_ptr(), &mut err) },
            15 => {
                let slot = usize::from(b.byte()) % 3;
                let mut out = ptr::null_mut();
                let rc = unsafe { ijk_model_load(cpath.as_ptr(), &mut out, &mut err) };
                if rc == 0 {
                    unsafe { ijk_model_free(models[slot]) };
                    models[slot] = out;
                }
                rc
            }
            16 => {
                let slot = usize::from(b.byte()) % 3;
                unsafe { ijk_model_free(models[slot]) };
                models[slot] = ptr::null_mut();
                0
            }
            17 => {
                let (mut state, mut dim, mut count, mut theta) = (0, 0usize, 0usize, 0.0);
                let _ = unsafe { ijk_model_state(m, &mut state, ptr::null_mut()) };
                let _ = unsafe { ijk_model_dim(m, &mut dim, ptr::null_mut()) };
                let _ = unsafe { ijk_model_theta3(m, &mut theta, ptr::null_mut()) };
                // These pass no error pointer (allowed); the status is checked against out-of-range writes only.
                let _ = unsafe { ijk_model_num_times(m, &mut count, ptr::null_mut()) };
                let mut times = vec![0.0; out_len(count.min(64), &mut b)];
                let _ = unsafe { ijk_model_times(m, times.as_mut_ptr(), times.len(), ptr::null_mut()) };
                let mut c = ptr::null_mut();
                if unsafe { ijk_model_config(m, &mut c, ptr::null_mut()) } == 0 {
                    unsafe { ijk_config_free(c) };
                }
                0
            }
            18 => {
                // A config read back through get with a short buffer.
                let c = configs[usize::from(b.byte()) % 2];
                let key = ijk_config_key(usize::from(b.byte()) % key_count.max(1));
                let mut buf = vec![0 as c_char; usize::from(b.byte() % 8)];
                let mut needed = 0usize;
                unsafe { ijk_config_get(c, key, buf.as_mut_ptr(), buf.len(), &mut needed, &mut err) }
            }
            _ => {
                let slot = usize::from(b.byte()) % 2;
                unsafe { ijk_config_free(configs[slot]) };
                configs[slot] = ptr::null_mut();
                0
            }
        };
        check(rc, err);
    }
    for m in models {
        unsafe { ijk_model_free(m) };
    }
    for c in configs {
        unsafe { ijk_config_free(c) };
    }
    let _ = std::fs::remove_file(&path);
}

//! `ijk_config`: training options by string key, plus the learning method.

use super::{c_str, give, guard, handle, non_null, tagged, take, IjkError};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Everything a model is created from: the training configuration, whose `method` key selects the
/// learning method (ijkonet, jkonet_star, jkonet_star_linear, jkonet).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub train: TrainConfig,
}

impl Settings {
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        self.train.set(key, value)
    }

    fn get(&self, key: &str) -> Result<String> {
        self.train.get(key)
    }
}

/// A configuration handle (opaque). Create with `ijk_config_new`, release with `ijk_config_free`.
pub struct IjkConfig {
    tag: u64,
    inner: Mutex<Settings>,
}

tagged!(IjkConfig, u64::from_le_bytes(*b"ijkCONFG"), "ijk_config");

impl IjkConfig {
    pub(crate) fn new(settings: Settings) -> IjkConfig {
        IjkConfig { tag: <IjkConfig as super::Tagged>::TAG, inner: Mutex::new(settings) }
    }
    /// Settings are plain values, valid after any interrupted write: a poisoned lock is recovered.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Settings>> {
        Ok(self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// All keys: `method` first, then the training options in their stable order.
fn all_keys() -> impl Iterator<Item = &'static str> {
    TrainConfig::keys().into_iter()
}

/// Create a configuration with every option at its default (method "ijkonet").
/// On success `*out` receives a new handle owned by the caller (free with `ijk_config_free`).
/// Errors: `IJK_ERR_INVALID_ARGUMENT` when `out` is NULL.
#[no_mangle]
pub unsafe extern "C" fn ijk_config_new(out: *mut *mut IjkConfig, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        unsafe { give(out, IjkConfig::new(Settings { train: TrainConfig::default() })) };
        Ok(())
    })
}

/// Release a configuration. NULL is a no-op. Models created from it keep their own copy.
#[no_mangle]
pub unsafe extern "C" fn ijk_config_free(config: *mut IjkConfig) {
    unsafe { take(config) }
}

/// Number of configuration keys (see `ijk_config_key`).
#[no_mangle]
pub extern "C" fn ijk_config_key_count() -> usize {
    all_keys().count()
}

/// The name of key `index` (0 ≤ index < `ijk_config_key_count()`) as a static string (do not free),
/// or NULL when `index` is out of range. Key 0 is "method".
#[no_mangle]
pub extern "C" fn ijk_config_key(index: usize) -> *const c_char {
    static NAMES: std::sync::OnceLock<Vec<std::ffi::CString>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| all_keys().map(|k| std::ffi::CString::new(k).expect("ASCII key")).collect());
    names.get(index).map_or(std::ptr::null(), |c| c.as_ptr())
}

fn set(
    config: *mut IjkConfig,
    key: *const c_char,
    err: *mut *mut IjkError,
    value: impl FnOnce() -> Result<String>,
) -> i32 {
    guard(err, || {
        let config = unsafe { handle(config as *const IjkConfig, "config") }?;
        let key = unsafe { c_str(key, "key") }?;
        let value = value().map_err(|e| e.context(format!("key '{key}'")))?;
        config.lock()?.set(key, &value)
    })
}

/// Set option `key` from its string form (e.g. "energy_hidden" = "64,64", "device" = "cpu",
/// "energy_clip" = "none"). On error the configuration is unchanged.
/// Errors: `IJK_ERR_INVALID_ARGUMENT` for NULL arguments, an unknown key or an invalid value (the
/// message names the key and the value).
#[no_mangle]
pub unsafe extern "C" fn ijk_config_set_str(
    config: *mut IjkConfig,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut IjkError,
) -> i32 {
    set(config, key, err, || unsafe { c_str(value, "value") }.map(str::to_string))
}

/// Set an integer option (e.g. "epochs", "batch_size", "seed", "threads"). Boolean keys accept 0/1.
/// Errors as `ijk_config_set_str` (a negative value for a count is invalid).
#[no_mangle]
pub unsafe extern "C" fn ijk_config_set_int(
    config: *mut IjkConfig,
    key: *const c_char,
    value: i64,
    err: *mut *mut IjkError,
) -> i32 {
    set(config, key, err, || Ok(value.to_string()))
}

/// Set a real option (e.g. "energy_lr", "tau", "energy_clip"). Integer keys accept integral values.
/// Errors as `ijk_config_set_str`; NaN and ±Inf are invalid.
#[no_mangle]
pub unsafe extern "C" fn ijk_config_set_double(
    config: *mut IjkConfig,
    key: *const c_char,
    value: f64,
    err: *mut *mut IjkError,
) -> i32 {
    set(config, key, err, || {
        if value.is_finite() {
            // Rust's shortest round-trip formatting: parsing it back gives exactly `value`.
            Ok(value.to_string())
        } else {
            Err(Error::invalid_argument(format!("value {value} is not finite")))
        }
    })
}

/// Set a boolean option (e.g. "map_shared", "map_residual").
/// Errors as `ijk_config_set_str` (a non-boolean key rejects "true"/"false").
#[no_mangle]
pub unsafe extern "C" fn ijk_config_set_bool(
    config: *mut IjkConfig,
    key: *const c_char,
    value: bool,
    err: *mut *mut IjkError,
) -> i32 {
    set(config, key, err, || Ok(value.to_string()))
}

/// Read option `key` as a NUL-terminated string into `buf` (`buflen` bytes, caller-owned).
/// `*needed` (optional, may be NULL) receives the size the value needs including the NUL whenever
/// the key is known, also when `buflen` is too small. Size query: `buf` = NULL with `buflen` = 0
/// succeeds and writes only `*needed`.
/// Errors: `IJK_ERR_INVALID_ARGUMENT` for a NULL config or key, an unknown key, `buf` NULL with
/// `buflen` > 0, or `buflen` < needed (then `buf` is untouched).
#[no_mangle]
pub unsafe extern "C" fn ijk_config_get(
    config: *const IjkConfig,
    key: *const c_char,
    buf: *mut c_char,
    buflen: usize,
    needed: *mut usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let config = unsafe { handle(config, "config") }?;
        let key = unsafe { c_str(key, "key") }?;
        let value = config.lock()?.get(key)?;
        unsafe { super::write_c_string(value, buf, buflen, needed, &format!("value of '{key}'")) }
    })
}

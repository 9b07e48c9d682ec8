//! `ijk_model`: snapshots in, training, queries, persistence.
//!
//! State machine of a handle: COLLECTING (snapshots are added) → the first train call validates the
//! snapshots and builds the trainer → TRAINED once a training step completed (training may continue;
//! queries allowed) or, when a later step diverges, FAILED (the last finite parameters are kept and
//! stay queryable; further training is refused). A first training call that completes no step leaves
//! the handle COLLECTING with its snapshots. `ijk_model_load` gives a LOADED handle: queryable, not
//! trainable.

use super::config::{IjkConfig, Settings};
use super::{
    c_str, check_out, give, guard, handle, non_null, panic_message, points, tagged, take, write_out, write_value,
    IjkError,
};
use crate::data::Snapshots;
use crate::error::{Error, ErrorKind, Result};
use crate::methods::Trainer;
use crate::model::{JkoStepOptions, Model};
use ndarray::{Array2, ArrayView2};
use std::ffi::{c_char, c_void};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

/// Snapshots are being added; nothing is trained yet.
pub const IJK_MODEL_COLLECTING: i32 = 0;
/// At least one training step completed; queries and further training allowed.
pub const IJK_MODEL_TRAINED: i32 = 1;
/// A training step diverged: the last finite parameters are kept (queries work), training is refused.
pub const IJK_MODEL_FAILED: i32 = 2;
/// Loaded from a file: queries allowed, training refused.
pub const IJK_MODEL_LOADED: i32 = 3;

/// What the progress callback of `ijk_model_train` receives after each epoch. The struct only grows
/// at its end: `struct_size` is the size the library filled, so a caller compiled against an older
/// header reads the fields it knows, and one compiled against a newer header checks `struct_size`
/// before reading a field added later (`offsetof(ijk_progress, field) < p->struct_size`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IjkProgress {
    /// `sizeof(ijk_progress)` as the library knows it (ABI version 2 and later).
    pub struct_size: usize,
    /// Epochs completed by this model so far (counting earlier train calls).
    pub epoch: u64,
    /// Epochs requested by this train call.
    pub epochs: u64,
    /// Mean energy loss over the epoch's iterations.
    pub energy_loss: f64,
    /// Mean map loss over the epoch's iterations.
    pub map_loss: f64,
    /// Evaluation metric; NaN when none was computed.
    pub metric: f64,
}

/// Progress callback: return 0 to continue, non-zero to cancel training (status `IJK_ERR_CANCELLED`).
/// It runs on the calling thread while the model is locked: it must not call functions on the same
/// model handle (they fail with `IJK_ERR_STATE`). It must return normally: a C++ exception, a Rust
/// panic, a `longjmp` (e.g. an R error) or a thread cancellation unwinding out of it crosses Rust
/// frames and is undefined behaviour. Catch inside the callback and return non-zero instead (the C++
/// wrapper in ijkonet.hpp does this and rethrows after training).
pub type IjkProgressFn = Option<unsafe extern "C" fn(progress: *const IjkProgress, user_data: *mut c_void) -> i32>;

type Collected = Vec<(f64, Array2<f64>)>;

enum Stage {
    Collecting {
        snapshots: Collected,
    },
    /// `collected` keeps the snapshots until a first training step completes, so that a first call
    /// that fails can put the handle back to COLLECTING.
    Trained {
        trainer: Box<dyn Trainer>,
        failed: bool,
        collected: Option<Collected>,
    },
    Loaded(Box<Model>),
}

struct Inner {
    settings: Settings,
    stage: Stage,
}

impl Inner {
    fn model(&self) -> Result<&Model> {
        match &self.stage {
            Stage::Collecting { .. } => Err(Error::state(
                "the model is not trained: add snapshots and call ijk_model_train or ijk_model_train_step first",
            )),
            Stage::Trained { trainer, .. } => Ok(trainer.model()),
            Stage::Loaded(m) => Ok(m),
        }
    }

    /// The trainer, built from the collected snapshots on first use.
    fn trainer(&mut self) -> Result<&mut dyn Trainer> {
        if let Stage::Collecting { snapshots } = &self.stage {
            let mut sorted: Vec<&(f64, Array2<f64>)> = snapshots.iter().collect();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let times = sorted.iter().map(|s| s.0).collect();
            let clouds = sorted.iter().map(|s| s.1.clone()).collect();
            let data = Snapshots::new(times, clouds)?;
            let trainer = crate::methods::trainer(&self.settings.train, &data)?;
            let Stage::Collecting { snapshots } =
                std::mem::replace(&mut self.stage, Stage::Collecting { snapshots: Vec::new() })
            else {
                unreachable!("matched above")
            };
            self.stage = Stage::Trained { trainer, failed: false, collected: Some(snapshots) };
        }
        match &mut self.stage {
            Stage::Trained { failed: true, .. } => Err(Error::state(
                "training diverged earlier: the last finite parameters are kept for queries, but training cannot continue",
            )),
            Stage::Trained { trainer, .. } => Ok(trainer.as_mut()),
            Stage::Loaded(_) => Err(Error::state("a model loaded from a file cannot be trained further")),
            Stage::Collecting { .. } => unreachable!("replaced above"),
        }
    }

    /// Record the outcome of a training call. Success (or a cancellation after completed epochs)
    /// makes the handle TRAINED for good. A failure before any step completed puts it back to
    /// COLLECTING with its snapshots; a later numerical failure or a panic makes it FAILED.
    fn note_outcome(&mut self, outcome: &Result<()>) {
        let Stage::Trained { trainer, failed, collected } = &mut self.stage else { return };
        let completed = collected.is_none() || trainer.model().epochs_done() > 0;
        match outcome {
            Ok(()) => *collected = None,
            Err(e) if e.kind() == ErrorKind::Cancelled && completed => *collected = None,
            Err(_) if !completed => {
                let snapshots = collected.take().expect("not completed");
                self.stage = Stage::Collecting { snapshots };
            }
            Err(e) if matches!(e.kind(), ErrorKind::Numerical | ErrorKind::Torch | ErrorKind::Internal) => {
                *failed = true;
                *collected = None;
            }
            Err(_) => {}
        }
    }
}

/// Run a training call, turning a panic (a libtorch failure in a tch call that panics, or a bug) into
/// an error instead of unwinding through the lock.
fn catch_training(f: impl FnOnce() -> Result<()>) -> Result<()> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Error::new(
            ErrorKind::Torch,
            format!("training failed inside libtorch: {}", panic_message(payload.as_ref())),
        ))
    })
}

/// A model handle (opaque). Create with `ijk_model_new` or `ijk_model_load`, release with `ijk_model_free`.
pub struct IjkModel {
    tag: u64,
    inner: Mutex<Inner>,
    /// The thread currently inside `ijk_model_train` (whose callback may try to re-enter).
    training_thread: Mutex<Option<ThreadId>>,
}

impl IjkModel {
    fn new(settings: Settings, stage: Stage) -> IjkModel {
        IjkModel {
            tag: <IjkModel as super::Tagged>::TAG,
            inner: Mutex::new(Inner { settings, stage }),
            training_thread: Mutex::new(None),
        }
    }

    /// Lock the model. Panics are caught inside the lock (queries and training), so a poisoned lock
    /// can only come from a bug; its state is still consistent enough to query, so it is recovered.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        let busy = *self.training_thread.lock().unwrap_or_else(PoisonError::into_inner);
        if busy == Some(std::thread::current().id()) {
            return Err(Error::state(
                "this model is being trained by the current thread (called from a progress callback?)",
            ));
        }
        Ok(self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

tagged!(IjkModel, u64::from_le_bytes(*b"ijkMODEL"), "ijk_model");

/// Marks the current thread as training a model (a callback re-entering the handle gets an error
/// instead of a deadlock); the mark is cleared on every exit path, unwinding included.
struct TrainingMark<'a>(&'a Mutex<Option<ThreadId>>);

impl<'a> TrainingMark<'a> {
    fn set(slot: &'a Mutex<Option<ThreadId>>) -> TrainingMark<'a> {
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(std::thread::current().id());
        TrainingMark(slot)
    }
}

impl Drop for TrainingMark<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

unsafe fn model<'a>(p: *const IjkModel) -> Result<&'a IjkModel> {
    unsafe { handle(p, "model") }
}

/// Create an untrained model from a configuration (copied; the configuration can be freed after).
/// On success `*out` receives a new handle owned by the caller (free with `ijk_model_free`).
/// Errors: `IJK_ERR_INVALID_ARGUMENT` for NULL arguments, an inconsistent configuration or a device
/// that does not exist.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_new(
    config: *const IjkConfig,
    out: *mut *mut IjkModel,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let config = unsafe { handle(config, "config") }?;
        non_null(out, "out")?;
        let settings = config.lock()?.clone();
        settings.train.validate()?;
        settings.train.device.resolve()?;
        unsafe { give(out, IjkModel::new(settings, Stage::Collecting { snapshots: Vec::new() })) };
        Ok(())
    })
}

/// Release a model. NULL is a no-op. Must not race with other calls on the same handle.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_free(model: *mut IjkModel) {
    unsafe { take(model) }
}

fn add_snapshot<T: Copy + Into<f64>>(
    model: *mut IjkModel,
    time: f64,
    data: *const T,
    n: usize,
    d: usize,
) -> Result<()> {
    let model = unsafe { self::model(model) }?;
    if !time.is_finite() {
        return Err(Error::invalid_argument(format!("snapshot time {time} is not finite")));
    }
    let view = unsafe { points(data, n, d, "snapshot data") }?;
    let mut inner = model.lock()?;
    let Stage::Collecting { snapshots } = &mut inner.stage else {
        return Err(Error::state("snapshots can only be added before training starts"));
    };
    if let Some((_, first)) = snapshots.first() {
        if first.ncols() != d {
            return Err(Error::invalid_argument(format!(
                "snapshot at time {time} has dimension d = {d} but earlier snapshots have d = {}",
                first.ncols()
            )));
        }
    }
    if snapshots.iter().any(|(t, _)| *t == time) {
        return Err(Error::invalid_data(format!("a snapshot at time {time} was already added")));
    }
    snapshots.push((time, view.mapv(Into::into)));
    Ok(())
}

/// Add a snapshot: `n` points of dimension `d`, row-major `float` values (copied; the buffer can be
/// reused after the call). Snapshots may come in any time order; they are sorted when training starts.
/// Errors: `IJK_ERR_INVALID_ARGUMENT` for NULL, n = 0, d = 0, a d different from earlier snapshots,
/// NaN/Inf values or time; `IJK_ERR_INVALID_DATA` for a time already added; `IJK_ERR_STATE` once
/// training has started or for a loaded model.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_add_snapshot_f32(
    model: *mut IjkModel,
    time: f64,
    data: *const f32,
    n: usize,
    d: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || add_snapshot(model, time, data, n, d))
}

/// As `ijk_model_add_snapshot_f32`, with `double` values.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_add_snapshot_f64(
    model: *mut IjkModel,
    time: f64,
    data: *const f64,
    n: usize,
    d: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || add_snapshot(model, time, data, n, d))
}

/// One training iteration: the configured number of map updates, then one energy update. The first
/// training call validates the snapshots (≥ 2 snapshots, ≥ 2 points each) and builds the trainer.
/// `energy_loss` and `map_loss` are optional outputs (NULL to ignore).
/// Errors: `IJK_ERR_INVALID_DATA` for unusable snapshots (the handle keeps collecting);
/// `IJK_ERR_NUMERICAL` when the step diverges (the handle becomes FAILED); `IJK_ERR_STATE` for a
/// FAILED or LOADED handle.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_train_step(
    model: *mut IjkModel,
    energy_loss: *mut f64,
    map_loss: *mut f64,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let model = unsafe { self::model(model) }?;
        let mut inner = model.lock()?;
        let mut losses = (0.0, 0.0);
        let outcome = catch_training(|| {
            losses = inner.trainer()?.step()?;
            Ok(())
        });
        inner.note_outcome(&outcome);
        outcome?;
        let (el, ml) = losses;
        if !energy_loss.is_null() {
            unsafe { write_value(energy_loss, el) };
        }
        if !map_loss.is_null() {
            unsafe { write_value(map_loss, ml) };
        }
        Ok(())
    })
}

/// Train for `epochs` epochs (0 = the configuration's `epochs`). After each epoch `callback` (may be
/// NULL) receives the progress and `user_data`; a non-zero return cancels. Training continues from
/// earlier calls. The first training call builds the trainer as `ijk_model_train_step` does.
/// Errors: as `ijk_model_train_step`; `IJK_ERR_CANCELLED` when the callback cancelled (the epochs
/// completed so far are kept and training may be resumed).
#[no_mangle]
pub unsafe extern "C" fn ijk_model_train(
    model: *mut IjkModel,
    epochs: u64,
    callback: IjkProgressFn,
    user_data: *mut c_void,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let model = unsafe { self::model(model) }?;
        let mut inner = model.lock()?;
        // u64 → usize saturates (32-bit targets); no allocation depends on the epoch count.
        let epochs =
            if epochs == 0 { inner.settings.train.epochs } else { usize::try_from(epochs).unwrap_or(usize::MAX) };
        let mark = TrainingMark::set(&model.training_thread);
        let outcome = catch_training(|| {
            let t = inner.trainer()?;
            t.train(epochs, None, &mut |p| {
                let progress = IjkProgress {
                    struct_size: std::mem::size_of::<IjkProgress>(),
                    epoch: p.epoch as u64,
                    epochs: p.epochs as u64,
                    energy_loss: p.energy_loss,
                    map_loss: p.map_loss,
                    metric: p.metric.unwrap_or(f64::NAN),
                };
                match callback {
                    // SAFETY: a C function pointer supplied by the caller, with its own user_data.
                    Some(f) if unsafe { f(&progress, user_data) } != 0 => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            })
            .map(drop)
        });
        drop(mark);
        inner.note_outcome(&outcome);
        outcome
    })
}

/// The handle's state: `IJK_MODEL_COLLECTING`, `IJK_MODEL_TRAINED`, `IJK_MODEL_FAILED` or
/// `IJK_MODEL_LOADED`, written to `*out`. Errors: `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_state(model: *const IjkModel, out: *mut i32, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        let model = unsafe { self::model(model) }?;
        non_null(out, "out")?;
        let state = match model.lock()?.stage {
            Stage::Collecting { .. } => IJK_MODEL_COLLECTING,
            Stage::Trained { failed: false, .. } => IJK_MODEL_TRAINED,
            Stage::Trained { failed: true, .. } => IJK_MODEL_FAILED,
            Stage::Loaded(_) => IJK_MODEL_LOADED,
        };
        unsafe { write_value(out, state) };
        Ok(())
    })
}

/// A copy of the model's configuration (for a loaded model: the one it was trained with).
/// `*out` receives a new handle owned by the caller (free with `ijk_config_free`).
#[no_mangle]
pub unsafe extern "C" fn ijk_model_config(
    model: *const IjkModel,
    out: *mut *mut IjkConfig,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let model = unsafe { self::model(model) }?;
        non_null(out, "out")?;
        let settings = model.lock()?.settings.clone();
        unsafe { give(out, IjkConfig::new(settings)) };
        Ok(())
    })
}

/// Run a read-only query on the trained model. A panic inside it (tch panics when libtorch fails,
/// e.g. out of memory) is caught while the lock is held, so the handle stays usable and unchanged.
pub(super) fn query<R>(model: *const IjkModel, f: impl FnOnce(&Model) -> Result<R>) -> Result<R> {
    let model = unsafe { self::model(model) }?;
    let inner = model.lock()?;
    let m = inner.model()?;
    catch_unwind(AssertUnwindSafe(|| f(m))).unwrap_or_else(|payload| {
        Err(Error::new(
            ErrorKind::Torch,
            format!("the query failed inside libtorch: {} (the model is unchanged)", panic_message(payload.as_ref())),
        ))
    })
}

/// Refuse non-finite results (a finite f64 input can overflow the f32 networks, or a diverged energy
/// gives NaN) instead of handing them out with `IJK_OK`.
pub(super) fn finite<'a>(values: impl IntoIterator<Item = &'a f64>, what: &str) -> Result<()> {
    if values.into_iter().any(|v| !v.is_finite()) {
        return Err(Error::numerical(format!(
            "{what}: the result is not finite (inputs far outside the training data overflow the f32 \
             networks, or the learned energy diverged); nothing was written"
        )));
    }
    Ok(())
}

/// Dimension d of the model's data (known once trained or loaded), written to `*out`.
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_dim(model: *const IjkModel, out: *mut usize, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let d = query(model, |m| Ok(m.dim()))?;
        unsafe { write_value(out, d) };
        Ok(())
    })
}

/// Number of snapshot times K+1 the model was trained on (the length `ijk_model_times` needs).
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_num_times(model: *const IjkModel, out: *mut usize, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let k = query(model, |m| Ok(m.times().len()))?;
        unsafe { write_value(out, k) };
        Ok(())
    })
}

/// The sorted snapshot times, into `out` (`out_len` ≥ `ijk_model_num_times`).
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL or a short buffer.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_times(
    model: *const IjkModel,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let times = query(model, |m| Ok(m.times().to_vec()))?;
        check_out(out, out_len, times.len(), "times")?;
        unsafe { write_out(out, &times) };
        Ok(())
    })
}

/// Learned diffusion coefficient θ₃ (0 when the variant has no internal energy), written to `*out`.
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_theta3(model: *const IjkModel, out: *mut f64, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let theta = query(model, |m| Ok(m.theta3()))?;
        unsafe { write_value(out, theta) };
        Ok(())
    })
}

/// Validate n × d input points against the model and the output buffer before any work.
pub(super) fn input<'a>(
    m: &Model,
    x: *const f64,
    n: usize,
    d: usize,
    what: &str,
    out: *mut f64,
    out_len: usize,
    needed: usize,
) -> Result<ArrayView2<'a, f64>> {
    if d != m.dim() {
        return Err(Error::invalid_argument(format!("{what}: d = {d} but the model has dimension {}", m.dim())));
    }
    let view = unsafe { points(x, n, d, &format!("{what}: input points")) }?;
    check_out(out, out_len, needed, what)?;
    Ok(view)
}

/// Values in `count` clouds of n × d, refusing overflow.
pub(super) fn cloud_len(count: usize, n: usize, d: usize) -> Result<usize> {
    count
        .checked_mul(n)
        .and_then(|v| v.checked_mul(d))
        .ok_or_else(|| Error::invalid_argument(format!("{count} × {n} × {d} values overflow")))
}

fn flatten(clouds: &[Array2<f64>]) -> Vec<f64> {
    clouds.iter().flat_map(|c| c.iter().copied()).collect()
}

/// One-step prediction: push the n × d points `x` (row-major) through the learned map of step k
/// (from snapshot k to k+1). `out` receives n × d values (`out_len` ≥ n·d).
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL, n = 0, d not the
/// model's dimension, NaN/Inf input, k ≥ number of steps, or `out_len` < n·d (nothing written).
#[no_mangle]
pub unsafe extern "C" fn ijk_model_predict_step(
    model: *const IjkModel,
    k: usize,
    x: *const f64,
    n: usize,
    d: usize,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let y = query(model, |m| {
            let x = input(m, x, n, d, "predict_step", out, out_len, cloud_len(1, n, d)?)?;
            m.push_forward(k, x)
        })?;
        finite(&y, "predict_step")?;
        unsafe { write_out(out, y.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// Values `ijk_model_rollout` writes for n points of dimension d over `steps` steps: steps·n·d.
/// Errors: `IJK_ERR_INVALID_ARGUMENT` for a NULL `out` or overflow.
#[no_mangle]
pub unsafe extern "C" fn ijk_rollout_len(
    n: usize,
    d: usize,
    steps: usize,
    out: *mut usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let len = cloud_len(steps, n, d)?;
        unsafe { write_value(out, len) };
        Ok(())
    })
}

/// k-step prediction: chain the learned maps from snapshot `from` for `steps` steps. `out` receives
/// the predicted clouds at t_{from+1}, ..., t_{from+steps}, one after another: steps·n·d values
/// (see `ijk_rollout_len`).
/// Errors: as `ijk_model_predict_step`; `IJK_ERR_INVALID_ARGUMENT` when steps = 0 or from + steps
/// exceeds the number of steps.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_rollout(
    model: *const IjkModel,
    from: usize,
    steps: usize,
    x: *const f64,
    n: usize,
    d: usize,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let clouds = query(model, |m| {
            let x = input(m, x, n, d, "rollout", out, out_len, cloud_len(steps, n, d)?)?;
            m.rollout(from, steps, x)
        })?;
        finite(clouds.iter().flatten(), "rollout")?;
        unsafe { write_out(out, &flatten(&clouds)) };
        Ok(())
    })
}

/// Predict the population at time `t_to` from points observed at `t_from` (t_to > t_from). Between
/// observed times the learned maps are chained; otherwise one JKO step of size t_to − t_from is solved
/// with the learned energy (500 iterations of a fresh map). `out` receives n × d values.
/// Errors: as `ijk_model_predict_step`; `IJK_ERR_INVALID_ARGUMENT` for non-finite or unordered times.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_predict_at(
    model: *const IjkModel,
    x: *const f64,
    n: usize,
    d: usize,
    t_from: f64,
    t_to: f64,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let y = query(model, |m| {
            let x = input(m, x, n, d, "predict_at", out, out_len, cloud_len(1, n, d)?)?;
            m.predict_at(x, t_from, t_to, &JkoStepOptions::default())
        })?;
        finite(&y, "predict_at")?;
        unsafe { write_out(out, y.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// Values `ijk_model_simulate` writes: (n_steps + 1)·n·d. Errors: NULL `out` or overflow.
#[no_mangle]
pub unsafe extern "C" fn ijk_simulate_len(
    n: usize,
    d: usize,
    n_steps: usize,
    out: *mut usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let count = n_steps.checked_add(1).ok_or_else(|| Error::invalid_argument("n_steps overflows"))?;
        let len = cloud_len(count, n, d)?;
        unsafe { write_value(out, len) };
        Ok(())
    })
}

/// Simulate the learned SDE dX = −∇V dt − (∇W∗ρ) dt + √(2θ₃) dB by Euler–Maruyama from the n × d
/// points `x0` at time `t0`, `n_steps` steps of size `dt`, noise seeded by `seed`. `out` receives the
/// n_steps + 1 clouds (x0 first), (n_steps+1)·n·d values (see `ijk_simulate_len`).
/// Errors: as `ijk_model_predict_step`; `IJK_ERR_INVALID_ARGUMENT` for dt ≤ 0 or non-finite t0/dt;
/// `IJK_ERR_NUMERICAL` when the simulation diverges (nothing written).
#[no_mangle]
pub unsafe extern "C" fn ijk_model_simulate(
    model: *const IjkModel,
    x0: *const f64,
    n: usize,
    d: usize,
    t0: f64,
    dt: f64,
    n_steps: usize,
    seed: u64,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let clouds = query(model, |m| {
            let count = n_steps.checked_add(1).ok_or_else(|| Error::invalid_argument("n_steps overflows"))?;
            let x = input(m, x0, n, d, "simulate", out, out_len, cloud_len(count, n, d)?)?;
            m.simulate(x, t0, dt, n_steps, seed)
        })?;
        finite(clouds.iter().flatten(), "simulate")?;
        unsafe { write_out(out, &flatten(&clouds)) };
        Ok(())
    })
}

/// The learned potential V(x, t) at n points (up to an additive constant): `out` receives n values.
/// `t` matters only for time-dependent variants.
/// Errors: as `ijk_model_predict_step`; `IJK_ERR_STATE` when the variant has no potential term.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_potential(
    model: *const IjkModel,
    x: *const f64,
    n: usize,
    d: usize,
    t: f64,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let v = query(model, |m| {
            let x = input(m, x, n, d, "potential", out, out_len, n)?;
            m.potential(x, t)
        })?;
        finite(&v, "potential")?;
        unsafe { write_out(out, v.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// The gradient ∇V(x, t) at n points: `out` receives n × d values (the drift is −∇V).
/// Errors: as `ijk_model_potential`.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_grad_potential(
    model: *const IjkModel,
    x: *const f64,
    n: usize,
    d: usize,
    t: f64,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let g = query(model, |m| {
            let x = input(m, x, n, d, "grad_potential", out, out_len, cloud_len(1, n, d)?)?;
            m.grad_potential(x, t)
        })?;
        finite(&g, "grad_potential")?;
        unsafe { write_out(out, g.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// The interaction field (∇W ∗ ρ)(x_i) = (1/m) Σ_j ∇W(x_i − y_j) at n points `x` over a population
/// `population` of m points, both of dimension d: `out` receives n × d values.
/// Errors: as `ijk_model_predict_step` (for both inputs); `IJK_ERR_STATE` when the variant has no
/// interaction term.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_interaction_field(
    model: *const IjkModel,
    x: *const f64,
    n: usize,
    population: *const f64,
    m: usize,
    d: usize,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let f = query(model, |model| {
            let x = input(model, x, n, d, "interaction_field", out, out_len, cloud_len(1, n, d)?)?;
            let y = unsafe { points(population, m, d, "interaction_field population") }?;
            model.interaction_field(x, y)
        })?;
        finite(&f, "interaction_field")?;
        unsafe { write_out(out, f.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// V(x_i, t_i) at n points with one time per row (`t` holds n times): `out` receives n values.
/// For particle codes whose particles live at different times; `t` matters only for `t,V` variants.
/// Errors: as `ijk_model_potential`; `IJK_ERR_INVALID_ARGUMENT` for a NULL `t` or a non-finite time.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_potential_rows(
    model: *const IjkModel,
    x: *const f64,
    n: usize,
    d: usize,
    t: *const f64,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let v = query(model, |m| {
            let x = input(m, x, n, d, "potential_rows", out, out_len, n)?;
            let t = unsafe { row_times(t, n) }?;
            m.potential_rows(x, t)
        })?;
        finite(&v, "potential_rows")?;
        unsafe { write_out(out, v.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// ∇V(x_i, t_i) at n points with one time per row (`t` holds n times): `out` receives n × d values.
/// Errors: as `ijk_model_potential_rows`.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_grad_potential_rows(
    model: *const IjkModel,
    x: *const f64,
    n: usize,
    d: usize,
    t: *const f64,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let g = query(model, |m| {
            let x = input(m, x, n, d, "grad_potential_rows", out, out_len, cloud_len(1, n, d)?)?;
            let t = unsafe { row_times(t, n) }?;
            m.grad_potential_rows(x, t)
        })?;
        finite(&g, "grad_potential_rows")?;
        unsafe { write_out(out, g.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// n caller times (checked for NULL; finiteness is checked by the model).
unsafe fn row_times<'a>(t: *const f64, n: usize) -> Result<&'a [f64]> {
    non_null(t, "t")?;
    // SAFETY: non-NULL; the caller guarantees n readable doubles for the call.
    Ok(unsafe { std::slice::from_raw_parts(t, n) })
}

/// A new handle holding an exact copy of the model's current parameters (TRAINED, FAILED or LOADED
/// model), in state LOADED: queryable, not trainable, independent of the original. Calls on one
/// handle run one at a time; give each thread of a parallel particle code its own clone and the
/// queries run in parallel (set `ijk_set_num_threads(1)` so their libtorch work does not compete).
/// `*out` receives the new handle, owned by the caller (free with `ijk_model_free`).
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_clone(
    model: *const IjkModel,
    out: *mut *mut IjkModel,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let (copy, settings) = {
            let h = unsafe { self::model(model) }?;
            let settings = h.lock()?.settings.clone();
            (query(model, |m| m.try_clone())?, settings)
        };
        unsafe { give(out, IjkModel::new(settings, Stage::Loaded(Box::new(copy)))) };
        Ok(())
    })
}

/// Training epochs completed by the model (0 for a model whose training has not completed an epoch;
/// the count stored in the file for a loaded one), written to `*out`.
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_epochs_done(model: *const IjkModel, out: *mut u64, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        non_null(out, "out")?;
        let e = query(model, |m| Ok(m.epochs_done() as u64))?;
        unsafe { write_value(out, e) };
        Ok(())
    })
}

/// A description of the trained model by key, as a NUL-terminated string copied into `buf`
/// (`buflen` bytes; `*needed`, when not NULL, receives the size including the NUL; `buf` = NULL with
/// `buflen` = 0 only reports the size). Keys: "method" (ijkonet, jkonet_star, jkonet_star_linear,
/// jkonet), "variant" (the energy terms actually trained, e.g. "t,V", never "auto"), "device"
/// ("cpu", "cuda:0"), "normalisation" ("centre=c1,c2,...;scale=s").
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_INVALID_ARGUMENT` for an unknown key, NULL
/// arguments or a short buffer (nothing written).
#[no_mangle]
pub unsafe extern "C" fn ijk_model_info(
    model: *const IjkModel,
    key: *const c_char,
    buf: *mut c_char,
    buflen: usize,
    needed: *mut usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let key = unsafe { c_str(key, "key") }?;
        let value = query(model, |m| {
            Ok(match key {
                "method" => m.method().name().to_string(),
                "variant" => m.energy().variant().to_string(),
                "device" => match m.device() {
                    tch::Device::Cuda(i) => format!("cuda:{i}"),
                    _ => "cpu".to_string(),
                },
                "normalisation" => {
                    let n = m.normalisation();
                    let centre: Vec<String> = n.centre.iter().map(|c| format!("{c:e}")).collect();
                    format!("centre={};scale={:e}", centre.join(","), n.scale)
                }
                other => {
                    return Err(Error::invalid_argument(format!(
                        "unknown model info key '{other}': expected method, variant, device or normalisation"
                    )))
                }
            })
        })?;
        unsafe { super::write_c_string(value, buf, buflen, needed, &format!("model info '{key}'")) }
    })
}

/// Save the trained model (weights, configuration, times) to `path` (one safetensors file).
/// Errors: `IJK_ERR_STATE` before training; `IJK_ERR_IO` when the file cannot be written;
/// `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_save(model: *const IjkModel, path: *const c_char, err: *mut *mut IjkError) -> i32 {
    guard(err, || {
        let path = unsafe { c_str(path, "path") }?;
        query(model, |m| m.save(path))
    })
}

/// Load a model saved by `ijk_model_save`. `*out` receives a new LOADED handle owned by the caller
/// (free with `ijk_model_free`). The model goes to the saved device setting; a model saved on a
/// CUDA device that this machine does not have loads on the CPU (see `ijk_model_load_on` to choose).
/// Errors: `IJK_ERR_IO` when the file cannot be read; `IJK_ERR_FORMAT` when it is not a valid model
/// file; `IJK_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_load(path: *const c_char, out: *mut *mut IjkModel, err: *mut *mut IjkError) -> i32 {
    unsafe { ijk_model_load_on(path, std::ptr::null(), out, err) }
}

/// Load a model saved by `ijk_model_save` onto a chosen device: `device` is "cpu", "auto" (CUDA
/// device 0 when available, else the CPU), "cuda" or "cuda:N", or NULL for the saved setting (with
/// the CPU fallback of `ijk_model_load`). `*out` receives a new LOADED handle owned by the caller.
/// Errors: as `ijk_model_load`; `IJK_ERR_INVALID_ARGUMENT` for an unknown device string or a CUDA
/// device that does not exist.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_load_on(
    path: *const c_char,
    device: *const c_char,
    out: *mut *mut IjkModel,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let path = unsafe { c_str(path, "path") }?;
        non_null(out, "out")?;
        let device = if device.is_null() {
            None
        } else {
            let spec: crate::DeviceSpec = unsafe { c_str(device, "device") }?.parse()?;
            spec.resolve()?;
            Some(spec)
        };
        let model = Model::load(path, device)?;
        let settings = Settings { train: model.config().clone() };
        unsafe { give(out, IjkModel::new(settings, Stage::Loaded(Box::new(model)))) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use std::ptr::null_mut;

    #[test]
    fn a_panic_inside_a_query_is_a_torch_error_and_the_handle_stays_usable() {
        let mut config = TrainConfig { epochs: 1, ..TrainConfig::default() };
        for (k, v) in [("device", "cpu"), ("threads", "1"), ("variant", "V"), ("validation", "0")] {
            config.set(k, v).unwrap();
        }
        let model = IjkModel::new(Settings { train: config }, Stage::Collecting { snapshots: Vec::new() });
        let points = |shift: f64| Array2::from_shape_fn((20, 2), |(i, j)| (i * 3 + j) as f64 / 10.0 + shift);
        for (t, s) in [(0.0, 0.0), (1.0, 0.3), (2.0, 0.6)] {
            let x = points(s);
            let code =
                unsafe { ijk_model_add_snapshot_f64(&model as *const _ as *mut _, t, x.as_ptr(), 20, 2, null_mut()) };
            assert_eq!(code, super::super::IJK_OK);
        }
        let ptr = &model as *const IjkModel;
        let code = unsafe { ijk_model_train_step(ptr as *mut _, null_mut(), null_mut(), null_mut()) };
        assert_eq!(code, super::super::IJK_OK);
        let x = points(0.1);
        let grad = || query(ptr, |m| m.grad_potential(x.view(), 0.0));
        let before = grad().unwrap();
        // tch turns a libtorch failure (e.g. out of memory) into a panic: one inside a query.
        let e = query(ptr, |_| -> Result<()> { panic!("CUDA out of memory") }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Torch, "{e}");
        assert!(e.message().contains("out of memory") && e.message().contains("unchanged"), "{e}");
        assert!(!model.inner.is_poisoned(), "the panic was caught inside the lock");
        assert_eq!(grad().unwrap(), before);
        // A panic during training leaves the model FAILED, still queryable.
        let mut inner = model.lock().unwrap();
        let outcome = catch_training(|| panic!("CUBLAS_STATUS_ALLOC_FAILED"));
        assert_eq!(outcome.as_ref().unwrap_err().kind(), ErrorKind::Torch);
        inner.note_outcome(&outcome);
        assert!(matches!(inner.stage, Stage::Trained { failed: true, .. }));
        drop(inner);
        assert_eq!(grad().unwrap(), before);
    }
}

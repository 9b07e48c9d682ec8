//! The naive predictions every model must beat (no motion, mean shift, affine OT between the
//! Gaussian fits of the training snapshots) and the held-out evaluation of one step against them.

use super::model::{cloud_len, finite, input, query, IjkModel};
use super::{guard, points, write_out, IjkError};
use crate::baselines::Baseline;
use crate::error::{Error, Result};
use crate::metrics::ot::evaluation_w1;
use crate::model::Model;
use ndarray::Array2;

/// Naive prediction: no motion, x ↦ x (snapshot k+1 predicted to equal snapshot k).
pub const IJK_BASELINE_NO_MOTION: i32 = 0;
/// Naive prediction: mean shift, x ↦ x + m_{k+1} − m_k (means of the training snapshots).
pub const IJK_BASELINE_MEAN_SHIFT: i32 = 1;
/// Naive prediction: the optimal-transport map between the Gaussian fits N(m_k, Σ_k) and
/// N(m_{k+1}, Σ_{k+1}) of the training snapshots (covariances Ledoit–Wolf shrunk).
pub const IJK_BASELINE_AFFINE_OT: i32 = 2;

/// Values `ijk_model_evaluate_step` writes: the model's W1, then the no-motion, mean-shift and
/// affine-OT W1.
pub const IJK_EVALUATE_STEP_LEN: usize = 4;

/// The baseline of a C code.
fn baseline_kind(code: i32) -> Result<Baseline> {
    match code {
        IJK_BASELINE_NO_MOTION => Ok(Baseline::NoMotion),
        IJK_BASELINE_MEAN_SHIFT => Ok(Baseline::MeanShift),
        IJK_BASELINE_AFFINE_OT => Ok(Baseline::AffineOt),
        _ => Err(Error::invalid_argument(format!(
            "unknown baseline code {code}: expected IJK_BASELINE_NO_MOTION (0), IJK_BASELINE_MEAN_SHIFT (1) \
             or IJK_BASELINE_AFFINE_OT (2)"
        ))),
    }
}

/// Refuse a step index k ≥ the number of steps.
fn check_step(m: &Model, k: usize, what: &str) -> Result<()> {
    let steps = m.times().len().saturating_sub(1);
    if k >= steps {
        return Err(Error::invalid_argument(format!(
            "{what}: step {k} out of range: the model has {steps} steps (snapshots 0..{steps})"
        )));
    }
    Ok(())
}

/// Naive one-step prediction of snapshot k+1 from the n × d points `x` (row-major) of snapshot k,
/// with the map `baseline` (`IJK_BASELINE_NO_MOTION`, `IJK_BASELINE_MEAN_SHIFT` or
/// `IJK_BASELINE_AFFINE_OT`) fitted on the training snapshots k and k+1, in data units. `out`
/// receives n × d values (`out_len` ≥ n·d). The no-motion prediction is `x` itself.
/// Errors: `IJK_ERR_STATE` before training, or for a model loaded from a file saved without the
/// baseline fits (retrain it); `IJK_ERR_INVALID_ARGUMENT` for an unknown baseline code, NULL, n = 0,
/// d not the model's dimension, NaN/Inf input, k ≥ number of steps, or `out_len` < n·d (nothing
/// written).
#[no_mangle]
pub unsafe extern "C" fn ijk_model_baseline_predict(
    model: *const IjkModel,
    baseline: i32,
    k: usize,
    x: *const f64,
    n: usize,
    d: usize,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let kind = baseline_kind(baseline)?;
        let y = query(model, |m| {
            let b = m.baseline_fits()?;
            let x = input(m, x, n, d, "baseline_predict", out, out_len, cloud_len(1, n, d)?)?;
            check_step(m, k, "baseline_predict")?;
            b.predict(kind, k, x)
        })?;
        finite(&y, "baseline_predict")?;
        unsafe { write_out(out, y.as_slice().expect("standard layout")) };
        Ok(())
    })
}

/// Held-out evaluation of step k: the n_k × d points `x_k` of snapshot k are predicted forward by
/// the model (as `ijk_model_predict_step`) and by each naive prediction (as
/// `ijk_model_baseline_predict`), and each prediction is compared with the n_next × d points `x_next`
/// of snapshot k+1 by the W1 distance (exact up to 5000 points per cloud; beyond, the mean of exact W1
/// over 3 seeded subsample pairs of 5000, so no n×m matrix is formed). `out` receives `IJK_EVALUATE_STEP_LEN` (4) values:
/// the model's W1, then the no-motion, mean-shift and affine-OT W1 (the no-motion value is
/// W1(x_k, x_next)). A model that does not beat the smallest of the last three has learned nothing
/// the naive predictions miss.
/// Errors: `IJK_ERR_STATE` before training, or for a model saved without the baseline fits;
/// `IJK_ERR_INVALID_ARGUMENT` for NULL, n_k or n_next = 0, d not the model's dimension, NaN/Inf
/// input, k ≥ number of steps, or `out_len` < 4 (nothing written); `IJK_ERR_NUMERICAL` when a
/// prediction is not finite.
#[no_mangle]
pub unsafe extern "C" fn ijk_model_evaluate_step(
    model: *const IjkModel,
    k: usize,
    x_k: *const f64,
    n_k: usize,
    x_next: *const f64,
    n_next: usize,
    d: usize,
    out: *mut f64,
    out_len: usize,
    err: *mut *mut IjkError,
) -> i32 {
    guard(err, || {
        let values = query(model, |m| {
            let b = m.baseline_fits()?;
            let x = input(m, x_k, n_k, d, "evaluate_step", out, out_len, IJK_EVALUATE_STEP_LEN)?;
            let y = unsafe { points(x_next, n_next, d, "evaluate_step: x_next") }?;
            check_step(m, k, "evaluate_step")?;
            let score = |pred: Array2<f64>| {
                if pred.iter().any(|v| !v.is_finite()) {
                    return Err(Error::numerical(format!("evaluate_step: a prediction of step {k} is not finite")));
                }
                evaluation_w1(pred.view(), y).map(|e| e.value)
            };
            let mut values = vec![score(m.push_forward(k, x)?)?];
            for kind in Baseline::ALL {
                values.push(score(b.predict(kind, k, x)?)?);
            }
            Ok(values)
        })?;
        debug_assert_eq!(values.len(), IJK_EVALUATE_STEP_LEN, "`input` checked out_len for these");
        unsafe { write_out(out, &values) };
        Ok(())
    })
}

//! Distances between two point clouds given as caller buffers.

use super::{guard, non_null, points, write_value, IjkError};
use crate::error::{Error, Result};
use crate::metrics::mmd::{mmd, Bandwidth};
use crate::metrics::ot::{w1, w2};
use crate::metrics::sinkhorn::{sinkhorn_divergence, SinkhornOptions};
use ndarray::ArrayView2;

/// Validate both clouds and the output pointer, compute, and write the value on success.
fn metric(
    x: *const f64,
    n: usize,
    y: *const f64,
    m: usize,
    d: usize,
    out: *mut f64,
    err: *mut *mut IjkError,
    f: impl FnOnce(ArrayView2<f64>, ArrayView2<f64>) -> Result<f64>,
) -> i32 {
    guard(err, || {
        let x = unsafe { points(x, n, d, "x") }?;
        let y = unsafe { points(y, m, d, "y") }?;
        non_null(out, "out")?;
        let value = f(x, y)?;
        unsafe { write_value(out, value) };
        Ok(())
    })
}

/// Exact Wasserstein-1 distance (Euclidean ground cost, uniform weights) between the n × d cloud `x`
/// and the m × d cloud `y` (row-major), written to `*out`.
/// Errors: `IJK_ERR_INVALID_ARGUMENT` for NULL, n, m or d = 0, or NaN/Inf values.
#[no_mangle]
pub unsafe extern "C" fn ijk_metric_w1(
    x: *const f64,
    n: usize,
    y: *const f64,
    m: usize,
    d: usize,
    out: *mut f64,
    err: *mut *mut IjkError,
) -> i32 {
    metric(x, n, y, m, d, out, err, w1)
}

/// Exact Wasserstein-2 distance (the square root of the optimal mean squared distance), as `ijk_metric_w1`.
#[no_mangle]
pub unsafe extern "C" fn ijk_metric_w2(
    x: *const f64,
    n: usize,
    y: *const f64,
    m: usize,
    d: usize,
    out: *mut f64,
    err: *mut *mut IjkError,
) -> i32 {
    metric(x, n, y, m, d, out, err, w2)
}

/// Maximum mean discrepancy with a Gaussian kernel of bandwidth σ = `bandwidth`; `bandwidth` ≤ 0
/// selects the median heuristic. Errors: as `ijk_metric_w1`; NaN/Inf bandwidth.
#[no_mangle]
pub unsafe extern "C" fn ijk_metric_mmd(
    x: *const f64,
    n: usize,
    y: *const f64,
    m: usize,
    d: usize,
    bandwidth: f64,
    out: *mut f64,
    err: *mut *mut IjkError,
) -> i32 {
    metric(x, n, y, m, d, out, err, |x, y| {
        if !bandwidth.is_finite() {
            return Err(Error::invalid_argument(format!("MMD bandwidth {bandwidth} is not finite")));
        }
        let bw = if bandwidth > 0.0 { Bandwidth::Fixed(bandwidth) } else { Bandwidth::Median };
        mmd(x, y, bw)
    })
}

/// Debiased Sinkhorn divergence S_ε with squared-Euclidean cost and entropic regularisation
/// `epsilon` > 0 (absolute, in squared-distance units). Errors: as `ijk_metric_w1`; ε ≤ 0 or not finite.
#[no_mangle]
pub unsafe extern "C" fn ijk_metric_sinkhorn(
    x: *const f64,
    n: usize,
    y: *const f64,
    m: usize,
    d: usize,
    epsilon: f64,
    out: *mut f64,
    err: *mut *mut IjkError,
) -> i32 {
    metric(x, n, y, m, d, out, err, |x, y| {
        let opts = SinkhornOptions { epsilon, ..SinkhornOptions::default() };
        let to_tensor = |a: ArrayView2<f64>| {
            let values: Vec<f64> = a.iter().copied().collect();
            tch::Tensor::from_slice(&values).view([a.nrows() as i64, a.ncols() as i64])
        };
        let s = tch::no_grad(|| sinkhorn_divergence(&to_tensor(x), &to_tensor(y), &opts))?;
        Ok(s.double_value(&[]))
    })
}

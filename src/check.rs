//! The one set of rules and messages for input point clouds (rows = points), used by every routine
//! that takes them: the metrics, the model queries ([`crate::tensor::check_points`]), the Sinkhorn
//! solver and the C ABI (after its own pointer checks). A cloud is labelled `{what}: {name}` (or just
//! `{what}` when `name` is empty) and refused with one of
//!
//! - `{label}: n = 0, the cloud is empty (at least one point is needed)`
//! - `{label}: d = 0, the dimension must be at least 1`
//! - `{label}: value v at row i, column j is not finite (non-finite input is refused)`
//! - `{what}: dimension mismatch, x has d = … but y has d = …`
//! - `{label}: dimension d, but {owner} has dimension e`

use crate::error::{Error, Result};
use ndarray::ArrayView2;
use std::fmt;

/// `{what}: {name}`, or `{what}` alone when `name` is empty; formatted only on failure.
struct Label<'a>(&'a str, &'a str);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.is_empty(), self.1.is_empty()) {
            (_, true) => f.write_str(self.0),
            (true, false) => f.write_str(self.1),
            (false, false) => write!(f, "{}: {}", self.0, self.1),
        }
    }
}

/// The shape of an n × d cloud: at least one point and d ≥ 1. For callers that check a shape before
/// they have the values (the C ABI checks it before it reads caller memory).
pub fn shape(n: usize, d: usize, what: &str, name: &str) -> Result<()> {
    let label = Label(what, name);
    if n == 0 {
        return Err(Error::invalid_argument(format!(
            "{label}: n = 0, the cloud is empty (at least one point is needed)"
        )));
    }
    if d == 0 {
        return Err(Error::invalid_argument(format!("{label}: d = 0, the dimension must be at least 1")));
    }
    Ok(())
}

/// The error for the non-finite value `v` at row `i`, column `j` (for callers that find it themselves,
/// e.g. in a tensor).
pub fn non_finite(v: f64, i: usize, j: usize, what: &str, name: &str) -> Error {
    Error::invalid_argument(format!(
        "{}: value {v} at row {i}, column {j} is not finite (non-finite input is refused)",
        Label(what, name)
    ))
}

/// A point cloud: at least one point, d ≥ 1, every value finite (the first bad value is reported).
/// Generic so that f32 caller buffers are checked without a copy.
pub fn points<T: Copy + Into<f64>>(a: ArrayView2<T>, what: &str, name: &str) -> Result<()> {
    shape(a.nrows(), a.ncols(), what, name)?;
    match a.indexed_iter().find(|(_, v)| !(**v).into().is_finite()) {
        Some(((i, j), v)) => Err(non_finite((*v).into(), i, j, what, name)),
        None => Ok(()),
    }
}

/// A cloud whose dimension must be `expected`, the dimension of `owner` (e.g. "the model"); the
/// dimension is checked first.
pub fn points_of_dim<T: Copy + Into<f64>>(
    a: ArrayView2<T>,
    expected: usize,
    owner: &str,
    what: &str,
    name: &str,
) -> Result<()> {
    if a.ncols() != expected {
        return Err(Error::invalid_argument(format!(
            "{}: dimension {}, but {owner} has dimension {expected}",
            Label(what, name),
            a.ncols()
        )));
    }
    points(a, what, name)
}

/// Two clouds of dimensions `dx` and `dy` that must agree.
pub fn same_dim(dx: usize, dy: usize, what: &str) -> Result<()> {
    if dx != dy {
        return Err(Error::invalid_argument(format!("{what}: dimension mismatch, x has d = {dx} but y has d = {dy}")));
    }
    Ok(())
}

/// Two valid clouds `x` and `y` of the same dimension.
pub fn pair<T: Copy + Into<f64>>(x: ArrayView2<T>, y: ArrayView2<T>, what: &str) -> Result<()> {
    points(x, what, "x")?;
    points(y, what, "y")?;
    same_dim(x.ncols(), y.ncols(), what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn message(r: Result<()>) -> String {
        r.unwrap_err().message().to_string()
    }

    #[test]
    fn messages_name_the_cloud_and_the_problem() {
        let empty = Array2::<f64>::zeros((0, 2));
        let flat = Array2::<f64>::zeros((3, 0));
        let bad = array![[0.0f32, 1.0], [2.0, f32::NAN]];
        assert_eq!(
            message(points(empty.view(), "exact OT", "x")),
            "exact OT: x: n = 0, the cloud is empty (at least one point is needed)"
        );
        assert_eq!(message(points(flat.view(), "f", "")), "f: d = 0, the dimension must be at least 1");
        let m = message(points(bad.view(), "evaluate_step: x_next", ""));
        assert_eq!(
            m,
            "evaluate_step: x_next: value NaN at row 1, column 1 is not finite (non-finite input is refused)"
        );
        let ok = array![[0.0, 1.0]];
        assert!(message(pair(ok.view(), array![[1.0]].view(), "mmd")).contains("dimension mismatch"));
        let m = message(points_of_dim(ok.view(), 3, "the model", "push_forward", "points"));
        assert_eq!(m, "push_forward: points: dimension 2, but the model has dimension 3");
        assert!(points_of_dim(ok.view(), 2, "the model", "push_forward", "points").is_ok());
        assert!(message(shape(0, 0, "x", "")).starts_with("x: n = 0"), "n is checked before d");
    }
}

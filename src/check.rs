//! Input checks shared by every routine that takes point clouds, so each reports bad input the
//! same way: `{what}: {name} is empty`, `… has dimension d = 0`, `… has a non-finite value v at row
//! i, column j`, `… dimension mismatch`.

use crate::error::{Error, Result};
use ndarray::ArrayView2;

/// A point cloud (rows = points): at least one point, d ≥ 1, every value finite.
pub fn points(a: ArrayView2<f64>, what: &str, name: &str) -> Result<()> {
    if a.nrows() == 0 {
        return Err(Error::invalid_argument(format!("{what}: {name} is empty")));
    }
    if a.ncols() == 0 {
        return Err(Error::invalid_argument(format!("{what}: {name} has dimension d = 0")));
    }
    if let Some(((i, j), v)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "{what}: {name} has a non-finite value {v} at row {i}, column {j}"
        )));
    }
    Ok(())
}

/// Two valid clouds `x` and `y` of the same dimension.
pub fn pair(x: ArrayView2<f64>, y: ArrayView2<f64>, what: &str) -> Result<()> {
    points(x, what, "x")?;
    points(y, what, "y")?;
    if x.ncols() != y.ncols() {
        return Err(Error::invalid_argument(format!(
            "{what}: dimension mismatch, x has d = {} but y has d = {}",
            x.ncols(),
            y.ncols()
        )));
    }
    Ok(())
}

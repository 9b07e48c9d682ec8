//! Conversions between ndarray (f64, the library's data type) and tch tensors (f32 for compute).

use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2};
use tch::{Device, Kind, Tensor};

/// Copy an n×d f64 matrix to a float32 tensor on `device`.
pub fn to_tensor(x: ArrayView2<f64>, device: Device) -> Tensor {
    let (n, d) = x.dim();
    let flat: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    Tensor::from_slice(&flat).view([n as i64, d as i64]).to_device(device)
}

/// Copy a 2-D tensor back to an f64 matrix.
pub fn to_array(t: &Tensor) -> Result<Array2<f64>> {
    let size = t.size();
    if size.len() != 2 {
        return Err(Error::internal(format!("expected a 2-D tensor, got shape {size:?}")));
    }
    let flat: Vec<f64> =
        Vec::<f64>::try_from(&t.detach().to_device(Device::Cpu).to_kind(Kind::Double).contiguous().view([-1]))?;
    Ok(Array2::from_shape_vec((size[0] as usize, size[1] as usize), flat).expect("size from tensor"))
}

/// Check an input cloud against the model: dimension `dim`, then the rules of [`crate::check::points`].
pub fn check_points(x: ArrayView2<f64>, dim: usize, what: &str) -> Result<()> {
    crate::check::points_of_dim(x, dim, "the model", what, "points")
}

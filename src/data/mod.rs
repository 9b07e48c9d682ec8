//! Population snapshots: an ordered list of (time, point cloud) pairs with no correspondence
//! between the points of different snapshots.

pub mod h5ad;
mod io;
mod snapshots;

pub use h5ad::{read_h5ad, H5adOptions, Matrix};
pub use io::{
    read_csv, read_labelled_npy, read_npy_matrix, read_npy_vector, read_npz, write_npz, CsvHeader, CsvOptions,
    LabelColumn,
};
pub use snapshots::{Snapshot, Snapshots};

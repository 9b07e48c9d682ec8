//! Population snapshots: an ordered list of (time, point cloud) pairs with no correspondence
//! between the points of different snapshots.

mod io;
mod snapshots;

pub use io::{
    read_csv, read_labelled_npy, read_npy_matrix, read_npy_vector, read_npz, write_npz, CsvHeader, CsvOptions,
    LabelColumn,
};
pub use snapshots::{Snapshot, Snapshots};

//! Population snapshots: an ordered list of (time, point cloud) pairs with no correspondence
//! between the points of different snapshots.

mod io;
mod snapshots;


pub use snapshots::{Snapshot, Snapshots};

//! Exact k-nearest-neighbour distances within one point cloud (each point's neighbours exclude
//! itself): a kiddo kd-tree for small dimensions, brute force above.

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use ndarray::{Array2, ArrayView2};
use std::num::NonZero;

/// Largest dimension served by the kd-tree. kiddo's trees are const-generic in the dimension, so
/// each supported d is a separate instantiation; kd-trees also lose their edge over a linear scan
/// as d grows, so above this an exact brute-force search is used instead.
pub const MAX_TREE_DIM: usize = 16;

/// Euclidean distances from every row of `x` to its `k` nearest other rows, as an n×k array
/// sorted ascending along each row. Requires n > k and k ≥ 1 (checked by the caller).
pub(crate) fn knn_distances(x: ArrayView2<f64>, k: usize) -> Array2<f64> {
    macro_rules! by_dimension {
        ($($dim:literal)*) => {
            match x.ncols() {
                $($dim => knn_distances_tree::<$dim>(x, k),)*
                _ => knn_distances_brute(x, k),
            }
        };
    }
    by_dimension!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// kd-tree search in a fixed dimension `D` (must equal `x.ncols()`).
pub(crate) fn knn_distances_tree<const D: usize>(x: ArrayView2<f64>, k: usize) -> Array2<f64> {
    debug_assert_eq!(x.ncols(), D);
    let points: Vec<[f64; D]> = x
        .rows()
        .into_iter()
        .map(|row| {
            let mut p = [0.0; D];
            p.iter_mut().zip(row.iter()).for_each(|(dst, src)| *dst = *src);
            p
        })
        .collect();
    // Construction fails only past u32::MAX points (the item index type); the exact scan gives the
    // same distances.
    let Ok(tree) = ImmutableKdTree::<f64, D>::new_from_slice(&points) else {
        return knn_distances_brute(x, k);
    };
    // One extra neighbour: the query point itself comes back at distance 0.
    let wanted = NonZero::<usize>::MIN.saturating_add(k);
    let mut out = Array2::<f64>::zeros((points.len(), k));
    for (i, p) in points.iter().enumerate() {
        let found = tree.query(p).nearest_n::<SquaredEuclidean<f64>>(wanted).execute();
        // Drop the point itself; if an exact duplicate displaced it from the list, drop the first
        // entry instead: both are at distance 0, so the remaining distances are the same.
        let self_position = found.iter().position(|nn| nn.item as usize == i).unwrap_or(0);
        let mut column = 0;
        for (position, nn) in found.iter().enumerate() {
            if position != self_position && column < k {
                out[[i, column]] = nn.distance.sqrt();
                column += 1;
            }
        }
    }
    out
}

/// Exact O(n²·d) search; used for d > [`MAX_TREE_DIM`].
pub(crate) fn knn_distances_brute(x: ArrayView2<f64>, k: usize) -> Array2<f64> {
    let n = x.nrows();
    let mut out = Array2::<f64>::zeros((n, k));
    // Running k smallest squared distances, kept sorted by insertion.
    let mut best: Vec<f64> = Vec::with_capacity(k + 1);
    for i in 0..n {
        best.clear();
        let xi = x.row(i);
        for j in 0..n {
            if j == i {
                continue;
            }
            let squared: f64 = xi.iter().zip(x.row(j).iter()).map(|(a, b)| (a - b) * (a - b)).sum();
            if best.len() == k && squared >= best[k - 1] {
                continue;
            }
            let at = best.partition_point(|&v| v <= squared);
            best.insert(at, squared);
            best.truncate(k);
        }
        for (column, squared) in best.iter().enumerate() {
            out[[i, column]] = squared.sqrt();
        }
    }
    out
}

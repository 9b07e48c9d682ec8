use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One measurement: the time it was taken and the n × d cloud of measured points.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub time: f64,
    pub points: Array2<f64>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.points.nrows()
    }
    pub fn is_empty(&self) -> bool {
        self.points.nrows() == 0
    }
}

/// A validated sequence of snapshots: at least 2, strictly increasing finite times, one common
/// dimension d ≥ 1, at least 2 finite points each. Sizes n_k and time gaps may differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshots {
    snapshots: Vec<Snapshot>,
}

impl Snapshots {
    /// Build from times and clouds, validating everything (see the type's documentation).
    pub fn new(times: Vec<f64>, clouds: Vec<Array2<f64>>) -> Result<Self> {
        if times.len() != clouds.len() {
            return Err(Error::invalid_argument(format!(
                "{} times given for {} point clouds",
                times.len(),
                clouds.len()
            )));
        }
        let snapshots: Vec<Snapshot> =
            times.into_iter().zip(clouds).map(|(time, points)| Snapshot { time, points }).collect();
        Self::validate(&snapshots)?;
        Ok(Snapshots { snapshots })
    }

    /// Build from f32/f64 row-major buffers: `data[k]` holds `n_k * dim` values.
    pub fn from_flat<T: Copy + Into<f64>>(times: &[f64], data: &[&[T]], dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid_argument("dimension must be at least 1"));
        }
        let clouds = data
            .iter()
            .enumerate()
            .map(|(k, buf)| {
                if buf.len() % dim != 0 {
                    return Err(Error::invalid_argument(format!(
                        "snapshot {k}: buffer of {} values is not a multiple of the dimension {dim}",
                        buf.len()
                    )));
                }
                let v: Vec<f64> = buf.iter().map(|&x| x.into()).collect();
                Ok(Array2::from_shape_vec((buf.len() / dim, dim), v).expect("shape checked"))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(times.to_vec(), clouds)
    }

    /// Build from one matrix of all points and a per-row time label (as single-cell data come):
    /// rows with equal labels form one snapshot, ordered by label. `times` maps a label to its
    /// time; `None` uses the label value itself as the time.
    pub fn from_labelled(data: ArrayView2<f64>, labels: &[f64], times: Option<&dyn Fn(f64) -> f64>) -> Result<Self> {
        Self::from_labelled_column(data, labels, times, "labels")
    }

    /// [`Snapshots::from_labelled`], with `column` naming where the labels came from in messages
    /// (e.g. "column 'day'"). Grouping sorts the rows once: O(N log N). More distinct labels than
    /// N/2 cannot give snapshots of 2 points each, and usually mean the wrong column was chosen
    /// (a coordinate instead of the time): refused before any snapshot is built.
    pub fn from_labelled_column(
        data: ArrayView2<f64>,
        labels: &[f64],
        times: Option<&dyn Fn(f64) -> f64>,
        column: &str,
    ) -> Result<Self> {
        let n = labels.len();
        if data.nrows() != n {
            return Err(Error::invalid_argument(format!("{n} labels given for {} rows", data.nrows())));
        }
        if let Some((i, bad)) = labels.iter().enumerate().find(|(_, l)| !l.is_finite()) {
            return Err(Error::invalid_data(format!("{column}: time label {bad} at index {i} is not finite")));
        }
        // Labels are finite here, so partial_cmp is total (and -0.0 groups with 0.0). The sort is
        // stable: rows keep their input order inside each snapshot.
        let cmp = |a: &f64, b: &f64| a.partial_cmp(b).expect("finite labels");
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| cmp(&labels[i], &labels[j]));
        let starts: Vec<usize> =
            (0..n).filter(|&k| k == 0 || labels[order[k]] != labels[order[k - 1]]).chain([n]).collect();
        let distinct = starts.len() - 1;
        if distinct * 2 > n {
            return Err(Error::invalid_data(format!(
                "{column}: {distinct} distinct values in {n} rows; is this really a time column? \
                 (every snapshot needs at least 2 rows)"
            )));
        }
        let mut times_out = Vec::with_capacity(distinct);
        let mut clouds = Vec::with_capacity(distinct);
        for w in starts.windows(2) {
            let rows = &order[w[0]..w[1]];
            let label = labels[rows[0]];
            times_out.push(times.map_or(label, |f| f(label)));
            clouds.push(data.select(Axis(0), rows));
        }
        Self::new(times_out, clouds)
    }

    fn validate(snaps: &[Snapshot]) -> Result<()> {
        if snaps.len() < 2 {
            return Err(Error::invalid_data(format!(
                "at least 2 snapshots are needed to learn dynamics, got {}",
                snaps.len()
            )));
        }
        let d = snaps[0].points.ncols();
        if d == 0 {
            return Err(Error::invalid_data("snapshot 0 has dimension 0; the dimension must be at least 1"));
        }
        for (k, s) in snaps.iter().enumerate() {
            if !s.time.is_finite() {
                return Err(Error::invalid_data(format!("snapshot {k}: time {} is not finite", s.time)));
            }
            if k > 0 && s.time <= snaps[k - 1].time {
                return Err(Error::invalid_data(format!(
                    "snapshot times must be strictly increasing: snapshot {k} has time {} after {}",
                    s.time,
                    snaps[k - 1].time
                )));
            }
            if s.points.ncols() != d {
                return Err(Error::invalid_data(format!(
                    "snapshot {k} has dimension {} but snapshot 0 has dimension {d}",
                    s.points.ncols()
                )));
            }
            if s.points.nrows() < 2 {
                return Err(Error::invalid_data(format!(
                    "snapshot {k} (time {}) has {} point(s); at least 2 are needed",
                    s.time,
                    s.points.nrows()
                )));
            }
            if let Some((idx, v)) = s.points.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::invalid_data(format!(
                    "snapshot {k}: value {v} at row {}, column {} is not finite",
                    idx / d,
                    idx % d
                )));
            }
        }
        Ok(())
    }

    /// Number of snapshots (≥ 2).
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }
    /// Always false: a valid `Snapshots` holds at least two snapshots.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }
    /// The common dimension d.
    pub fn dim(&self) -> usize {
        self.snapshots[0].points.ncols()
    }
    pub fn times(&self) -> Vec<f64> {
        self.snapshots.iter().map(|s| s.time).collect()
    }
    /// Points per snapshot.
    pub fn sizes(&self) -> Vec<usize> {
        self.snapshots.iter().map(Snapshot::len).collect()
    }
    pub fn get(&self, k: usize) -> Option<&Snapshot> {
        self.snapshots.get(k)
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Snapshot> {
        self.snapshots.iter()
    }
    /// Time gaps t_{k+1} − t_k (all positive).
    pub fn gaps(&self) -> Vec<f64> {
        self.snapshots.windows(2).map(|w| w[1].time - w[0].time).collect()
    }

    /// Split every snapshot independently: a random `test_fraction` of its points (seeded) goes to
    /// the test set. Both halves keep at least 2 points per snapshot, or the split is refused.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Snapshots, Snapshots)> {
        self.split_capped(test_fraction, usize::MAX, seed)
    }

    /// [`Snapshots::split`] with at most `cap` test points per snapshot.
    pub fn split_capped(&self, test_fraction: f64, cap: usize, seed: u64) -> Result<(Snapshots, Snapshots)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::invalid_argument(format!(
                "test fraction must lie strictly between 0 and 1, got {test_fraction}"
            )));
        }
        let counts: Vec<usize> =
            self.snapshots.iter().map(|s| ((s.len() as f64 * test_fraction).round() as usize).min(cap)).collect();
        self.split_counts(&counts, 2, seed).map_err(|e| {
            Error::invalid_data(format!("{}: a {test_fraction} split leaves fewer than 2 on one side", e.message()))
        })
    }

    /// Split with `counts[k]` random test points from snapshot k (seeded), keeping at least
    /// `min_train` (and 2 test) points on the training side of every snapshot.
    pub fn split_counts(&self, counts: &[usize], min_train: usize, seed: u64) -> Result<(Snapshots, Snapshots)> {
        if counts.len() != self.len() {
            return Err(Error::invalid_argument(format!("{} counts for {} snapshots", counts.len(), self.len())));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut train = Vec::with_capacity(self.len());
        let mut test = Vec::with_capacity(self.len());
        for (k, (s, &n_test)) in self.snapshots.iter().zip(counts).enumerate() {
            let n = s.len();
            if n_test < 2 || n < n_test + min_train.max(2) {
                return Err(Error::invalid_data(format!("snapshot {k} has {n} points")));
            }
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(&mut rng);
            let (te, tr) = perm.split_at(n_test);
            let (mut te, mut tr) = (te.to_vec(), tr.to_vec());
            // Keep the original row order inside each half: reproducible and easy to inspect.
            te.sort_unstable();
            tr.sort_unstable();
            train.push(Snapshot { time: s.time, points: s.points.select(Axis(0), &tr) });
            test.push(Snapshot { time: s.time, points: s.points.select(Axis(0), &te) });
        }
        Ok((Snapshots { snapshots: train }, Snapshots { snapshots: test }))
    }

    /// Split by trajectory for paired data (row i of every snapshot is the same particle): one
    /// seeded permutation of the row indices sends the same `test_fraction` of particles to the
    /// test set at every time, keeping the pairing on both sides (the JKOnet* reference's default).
    pub fn split_paired(&self, test_fraction: f64, seed: u64) -> Result<(Snapshots, Snapshots)> {
        let n = self.snapshots[0].len();
        if self.snapshots.iter().any(|s| s.len() != n) {
            return Err(Error::invalid_data(format!(
                "a split by trajectory needs equal snapshot sizes, got {:?}",
                self.sizes()
            )));
        }
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::invalid_argument(format!(
                "test fraction must lie strictly between 0 and 1, got {test_fraction}"
            )));
        }
        let n_test = (n as f64 * test_fraction).round() as usize;
        if n_test < 2 || n - n_test < 2 {
            return Err(Error::invalid_data(format!(
                "{n} trajectories: a {test_fraction} split leaves fewer than 2 on one side"
            )));
        }
        let mut perm: Vec<usize> = (0..n).collect();
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let (te, tr) = perm.split_at(n_test);
        let part = |idx: &[usize]| Snapshots {
            snapshots: self
                .snapshots
                .iter()
                .map(|s| Snapshot { time: s.time, points: s.points.select(Axis(0), idx) })
                .collect(),
        };
        Ok((part(tr), part(te)))
    }
}

impl<'a> IntoIterator for &'a Snapshots {
    type Item = &'a Snapshot;
    type IntoIter = std::slice::Iter<'a, Snapshot>;
    fn into_iter(self) -> Self::IntoIter {
        self.snapshots.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn two() -> Vec<Array2<f64>> {
        vec![array![[0.0, 1.0], [2.0, 3.0]], array![[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]]
    }

    #[test]
    fn accepts_unequal_sizes_and_gaps() {
        let s = Snapshots::new(vec![0.0, 3.0], two()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.dim(), 2);
        assert_eq!(s.sizes(), vec![2, 3]);
        assert_eq!(s.gaps(), vec![3.0]);
    }

    #[test]
    fn rejects_invalid_inputs_with_messages() {
        let e = Snapshots::new(vec![0.0], vec![array![[0.0], [1.0]]]).unwrap_err();
        assert!(e.message().contains("at least 2 snapshots"), "{e}");
        let e = Snapshots::new(vec![1.0, 1.0], two()).unwrap_err();
        assert!(e.message().contains("strictly increasing"), "{e}");
        let e = Snapshots::new(vec![0.0, f64::NAN], two()).unwrap_err();
        assert!(e.message().contains("not finite"), "{e}");
        let e = Snapshots::new(vec![0.0, 1.0], vec![array![[0.0, 1.0], [2.0, 3.0]], array![[1.0], [2.0]]]).unwrap_err();
        assert!(e.message().contains("dimension"), "{e}");
        let e = Snapshots::new(vec![0.0, 1.0], vec![array![[0.0, 1.0]], array![[1.0, 2.0], [2.0, 3.0]]]).unwrap_err();
        assert!(e.message().contains("at least 2 are needed"), "{e}");
        let e = Snapshots::new(vec![0.0, 1.0], vec![Array2::zeros((0, 2)), Array2::zeros((3, 2))]).unwrap_err();
        assert!(e.message().contains("0 point"), "{e}");
        let e = Snapshots::new(
            vec![0.0, 1.0],
            vec![array![[0.0, f64::INFINITY], [2.0, 3.0]], array![[1.0, 1.0], [2.0, 2.0]]],
        )
        .unwrap_err();
        assert!(e.message().contains("row 0, column 1"), "{e}");
        let e = Snapshots::new(vec![0.0, 1.0, 2.0], two()).unwrap_err();
        assert!(e.message().contains("3 times given for 2"), "{e}");
        let e = Snapshots::new(vec![0.0, 1.0], vec![Array2::zeros((2, 0)), Array2::zeros((2, 0))]).unwrap_err();
        assert!(e.message().contains("dimension 0"), "{e}");
    }

    #[test]
    fn flat_buffers_in_f32_and_f64() {
        let a: Vec<f32> = vec![0.0, 1.0, 2.0, 3.0];
        let b: Vec<f32> = vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        let s = Snapshots::from_flat(&[0.0, 1.0], &[&a, &b], 2).unwrap();
        assert_eq!(s, Snapshots::new(vec![0.0, 1.0], two()).unwrap());
        let c: Vec<f64> = vec![1.0, 2.0, 3.0];
        let e = Snapshots::from_flat(&[0.0, 1.0], &[&c, &c], 2).unwrap_err();
        assert!(e.message().contains("not a multiple"), "{e}");
        assert!(Snapshots::from_flat::<f64>(&[0.0, 1.0], &[&c, &c], 0).is_err());
    }

    #[test]
    fn labelled_rows_group_by_sorted_label() {
        let data = array![[1.0], [10.0], [2.0], [11.0], [12.0]];
        let labels = [1.0, 0.0, 1.0, 0.0, 0.0];
        let s = Snapshots::from_labelled(data.view(), &labels, Some(&|l| 3.0 * l)).unwrap();
        assert_eq!(s.times(), vec![0.0, 3.0]);
        assert_eq!(s.get(0).unwrap().points, array![[10.0], [11.0], [12.0]]);
        assert_eq!(s.get(1).unwrap().points, array![[1.0], [2.0]]);
        assert!(Snapshots::from_labelled(data.view(), &labels[..4], None).is_err());
    }

    #[test]
    fn labels_with_too_many_distinct_values_or_non_finite_are_refused() {
        let data = Array2::from_shape_fn((1000, 1), |(i, _)| i as f64);
        // A coordinate chosen as the label column: almost every value distinct.
        let labels: Vec<f64> = (0..1000).map(|i| (i % 812) as f64).collect();
        let e = Snapshots::from_labelled_column(data.view(), &labels, None, "column 'x'").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidData);
        assert!(
            e.message().starts_with("column 'x': 812 distinct values in 1000 rows; is this really a time column?"),
            "{e}"
        );
        // Exactly N/2 distinct values (2 rows each) is still accepted.
        let labels: Vec<f64> = (0..1000).map(|i| (i / 2) as f64).collect();
        assert_eq!(Snapshots::from_labelled(data.view(), &labels, None).unwrap().len(), 500);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut labels = vec![0.0; 1000];
            labels[7] = bad;
            let e = Snapshots::from_labelled_column(data.view(), &labels, None, "column 'day'").unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidData);
            assert!(e.message().contains("column 'day': time label") && e.message().contains("at index 7"), "{e}");
        }
    }

    #[test]
    fn grouping_keeps_row_order_and_merges_signed_zeros() {
        let data = array![[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]];
        let labels = [2.0, -0.0, 2.0, 0.0, 2.0, 0.0];
        let s = Snapshots::from_labelled(data.view(), &labels, None).unwrap();
        assert_eq!(s.times(), vec![0.0, 2.0]);
        assert_eq!(s.get(0).unwrap().points, array![[1.0], [3.0], [5.0]]);
        assert_eq!(s.get(1).unwrap().points, array![[0.0], [2.0], [4.0]]);
    }

    #[test]
    fn grouping_many_labels_is_not_quadratic() {
        // 100 000 snapshots of 2 rows: a scan of all rows per label (the old grouping) makes 2·10¹⁰
        // comparisons, tens of seconds; the sort takes well under a second.
        let n = 200_000;
        let data = Array2::from_shape_fn((n, 1), |(i, _)| i as f64);
        let labels: Vec<f64> = (0..n).map(|i| ((i * 7919) % (n / 2)) as f64).collect();
        let start = std::time::Instant::now();
        let s = Snapshots::from_labelled(data.view(), &labels, None).unwrap();
        let took = start.elapsed();
        assert_eq!(s.len(), n / 2);
        assert!(s.sizes().iter().all(|&k| k == 2));
        assert!(took < std::time::Duration::from_secs(5), "grouping took {took:?}");
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let cloud = Array2::from_shape_fn((50, 1), |(i, _)| i as f64);
        let s = Snapshots::new(vec![0.0, 1.0], vec![cloud.clone(), cloud]).unwrap();
        let (tr, te) = s.split(0.4, 7).unwrap();
        assert_eq!(tr.sizes(), vec![30, 30]);
        assert_eq!(te.sizes(), vec![20, 20]);
        let mut all: Vec<f64> =
            tr.get(0).unwrap().points.iter().chain(te.get(0).unwrap().points.iter()).copied().collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(all, (0..50).map(|i| i as f64).collect::<Vec<_>>());
        // Snapshots are split independently: the two halves differ between snapshots.
        assert_ne!(te.get(0).unwrap().points, te.get(1).unwrap().points);
        assert_eq!(s.split(0.4, 7).unwrap(), (tr.clone(), te.clone()));
        assert_ne!(s.split(0.4, 8).unwrap().1, te);
        assert!(s.split(0.0, 1).is_err());
        assert!(s.split(0.99, 1).is_err());
    }
}

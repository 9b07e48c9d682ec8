//! Reading snapshots from .npy, .npz and .csv files, and writing them to .npz.
//!
//! Layouts understood:
//! - `.npy` pair: a matrix of all points (rows = cells) and a vector of per-row time labels, as single-cell
//!   data usually come (`data.npy` + `sample_labels.npy`).
//! - `.npz`: arrays `data` (N×d) and `labels` (N), plus optionally `times` (one time per distinct label, in
//!   sorted label order). This is also what [`write_npz`] produces.
//! - `.csv`: one row per point, one column holding the time label, every other column a coordinate.

use super::Snapshots;
use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayD, Axis, Ix1, Ix2, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError, ReadableElement};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

/// Element types accepted in .npy files, all widened to f64.
trait Widen: ReadableElement + Copy {
    fn widen(self) -> f64;
}
macro_rules! widen {
    ($($t:ty),*) => { $(impl Widen for $t { fn widen(self) -> f64 { self as f64 } })* };
}
widen!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);

fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path).map(BufReader::new).map_err(|e| Error::io(format!("cannot open {}: {e}", path.display())))
}

/// Decode an .npy stream of any accepted numeric dtype into f64.
fn decode_npy<R: Read + Seek>(mut reader: R, what: &str) -> Result<ArrayD<f64>> {
    macro_rules! attempt {
        ($($t:ty),*) => {{
            $(
                reader.rewind().map_err(|e| Error::io(format!("{what}: {e}")))?;
                match ArrayD::<$t>::read_npy(&mut reader) {
                    Ok(a) => return Ok(a.mapv(Widen::widen)),
                    Err(ReadNpyError::WrongDescriptor(_)) => {}
                    Err(e) => return Err(Error::format(format!("{what}: not a readable .npy array: {e}"))),
                }
            )*
        }};
    }
    attempt!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
    Err(Error::format(format!("{what}: unsupported dtype (expected a float or integer array)")))
}

fn to_matrix(a: ArrayD<f64>, what: &str) -> Result<Array2<f64>> {
    match a.ndim() {
        1 => {
            let n = a.len();
            Ok(a.into_shape_with_order(IxDyn(&[n, 1])).expect("same size").into_dimensionality::<Ix2>().expect("2-D"))
        }
        2 => Ok(a.into_dimensionality::<Ix2>().expect("2-D")),
        k => Err(Error::format(format!("{what}: expected a 1-D or 2-D array, got {k} dimensions"))),
    }
}

fn to_vector(a: ArrayD<f64>, what: &str) -> Result<Array1<f64>> {
    let shape = a.shape().to_vec();
    match shape.as_slice() {
        [_] => Ok(a.into_dimensionality::<Ix1>().expect("1-D")),
        [n, 1] => {
            Ok(a.into_shape_with_order(IxDyn(&[*n])).expect("same size").into_dimensionality::<Ix1>().expect("1-D"))
        }
        _ => Err(Error::format(format!("{what}: expected a vector, got shape {shape:?}"))),
    }
}

/// Read a 1-D or 2-D .npy array of floats or integers as an f64 matrix (a vector becomes n×1).
pub fn read_npy_matrix(path: impl AsRef<Path>) -> Result<Array2<f64>> {
    let path = path.as_ref();
    let what = path.display().to_string();
    to_matrix(decode_npy(open(path)?, &what)?, &what)
}

/// Read a .npy vector (n or n×1) of floats or integers as f64.
pub fn read_npy_vector(path: impl AsRef<Path>) -> Result<Array1<f64>> {
    let path = path.as_ref();
    let what = path.display().to_string();
    to_vector(decode_npy(open(path)?, &what)?, &what)
}

/// Read snapshots from a point matrix and a per-row label vector stored as two .npy files.
/// Each distinct label is one snapshot; its time is the label value.
pub fn read_labelled_npy(data: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Snapshots> {
    let x = read_npy_matrix(data)?;
    let l = read_npy_vector(labels)?;
    Snapshots::from_labelled(x.view(), l.as_slice().expect("contiguous"), None)
}

fn npz_array<R: Read + Seek>(npz: &mut NpzReader<R>, names: &[String], name: &str, what: &str) -> Result<ArrayD<f64>> {
    if !names.iter().any(|n| n == name) {
        return Err(Error::format(format!("{what}: no array named '{name}' (arrays: {})", names.join(", "))));
    }
    macro_rules! attempt {
        ($($t:ty),*) => {{
            $(
                match npz.by_name::<ndarray::OwnedRepr<$t>, IxDyn>(name) {
                    Ok(a) => return Ok(a.mapv(Widen::widen)),
                    Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_))) => {}
                    Err(e) => return Err(Error::format(format!("{what}: array '{name}': {e}"))),
                }
            )*
        }};
    }
    attempt!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);
    Err(Error::format(format!("{what}: array '{name}' has an unsupported dtype")))
}

/// Read snapshots from an .npz holding `data` (N×d), `labels` (N) and optionally `times`
/// (one per distinct label, in increasing label order; without it the label is the time).
pub fn read_npz(path: impl AsRef<Path>) -> Result<Snapshots> {
    let path = path.as_ref();
    let what = path.display().to_string();
    let mut npz =
        NpzReader::new(open(path)?).map_err(|e| Error::format(format!("{what}: not an .npz archive: {e}")))?;
    let names = npz.names().map_err(|e| Error::format(format!("{what}: {e}")))?;
    let data = to_matrix(npz_array(&mut npz, &names, "data", &what)?, &what)?;
    let labels = to_vector(npz_array(&mut npz, &names, "labels", &what)?, &what)?;
    let times = if names.iter().any(|n| n == "times") {
        Some(to_vector(npz_array(&mut npz, &names, "times", &what)?, &what)?)
    } else {
        None
    };
    let labels = labels.to_vec();
    match times {
        None => Snapshots::from_labelled(data.view(), &labels, None),
        Some(times) => {
            let mut distinct = labels.clone();
            distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            distinct.dedup();
            if distinct.len() != times.len() {
                return Err(Error::format(format!(
                    "{what}: 'times' has {} entries but 'labels' has {} distinct values",
                    times.len(),
                    distinct.len()
                )));
            }
            let lookup = |l: f64| {
                let k = distinct.iter().position(|&d| d == l).expect("label from the same list");
                times[k]
            };
            Snapshots::from_labelled(data.view(), &labels, Some(&lookup))
        }
    }
}

/// Write snapshots as an .npz with `data` (N×d, f64), `labels` (N, i64 snapshot index) and `times`.
pub fn write_npz(path: impl AsRef<Path>, snapshots: &Snapshots) -> Result<()> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| Error::io(format!("cannot create {}: {e}", path.display())))?;
    let views: Vec<_> = snapshots.iter().map(|s| s.points.view()).collect();
    let data = ndarray::concatenate(Axis(0), &views).expect("common dimension");
    let labels: Array1<i64> =
        snapshots.iter().enumerate().flat_map(|(k, s)| std::iter::repeat_n(k as i64, s.len())).collect();
    let times = Array1::from(snapshots.times());
    let mut npz = NpzWriter::new_compressed(file);
    let fail = |e: ndarray_npy::WriteNpzError| Error::io(format!("cannot write {}: {e}", path.display()));
    npz.add_array("data", &data).map_err(fail)?;
    npz.add_array("labels", &labels).map_err(fail)?;
    npz.add_array("times", &times).map_err(fail)?;
    npz.finish().map_err(fail)?;
    Ok(())
}

/// Whether the CSV's first row is a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvHeader {
    /// A header when any field of the first row is not a number.
    #[default]
    Auto,
    Present,
    Absent,
}

/// Which CSV column holds the time label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelColumn {
    /// By header name (needs a header).
    Name(String),
    /// By zero-based index.
    Index(usize),
    /// The last column.
    Last,
}

/// How to read a CSV file of labelled points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub header: CsvHeader,
    pub label: LabelColumn,
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { header: CsvHeader::Auto, label: LabelColumn::Last, delimiter: b',' }
    }
}

/// Read snapshots from a CSV file: one row per point, the label column gives the time.
pub fn read_csv(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Snapshots> {
    let path = path.as_ref();
    let what = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(opts.delimiter)
        .trim(csv::Trim::All)
        .from_reader(open(path)?);
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        rows.push(rec.map_err(|e| Error::format(format!("{what}: line {}: {e}", i + 1)))?);
    }
    if rows.is_empty() {
        return Err(Error::invalid_data(format!("{what}: the file has no rows")));
    }
    let first_is_numeric = rows[0].iter().all(|f| f.parse::<f64>().is_ok());
    let has_header = match opts.header {
        CsvHeader::Auto => !first_is_numeric,
        CsvHeader::Present => true,
        CsvHeader::Absent => false,
    };
    let header = if has_header { Some(rows.remove(0)) } else { None };
    let ncols = header.as_ref().map_or_else(|| rows.first().map_or(0, |r| r.len()), |h| h.len());
    if ncols < 2 {
        return Err(Error::invalid_data(format!(
            "{what}: need a label column and at least one coordinate column, found {ncols} column(s)"
        )));
    }
    let label_col = match &opts.label {
        LabelColumn::Last => ncols - 1,
        LabelColumn::Index(i) if *i < ncols => *i,
        LabelColumn::Index(i) => {
            return Err(Error::invalid_argument(format!("{what}: label column {i} out of range ({ncols} columns)")))
        }
        LabelColumn::Name(name) => {
            let h = header.as_ref().ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{what}: label column '{name}' given by name but the file has no header"
                ))
            })?;
            h.iter().position(|f| f == name).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{what}: no column named '{name}' (columns: {})",
                    h.iter().collect::<Vec<_>>().join(", ")
                ))
            })?
        }
    };
    let d = ncols - 1;
    let mut values = Vec::with_capacity(rows.len() * d);
    let mut labels = Vec::with_capacity(rows.len());
    let line0 = if has_header { 2 } else { 1 };
    for (r, rec) in rows.iter().enumerate() {
        if rec.len() != ncols {
            return Err(Error::format(format!(
                "{what}: line {} has {} fields, expected {ncols}",
                r + line0,
                rec.len()
            )));
        }
        for (c, field) in rec.iter().enumerate() {
            let v: f64 = field.parse().map_err(|_| {
                Error::format(format!("{what}: line {}, column {}: '{field}' is not a number", r + line0, c + 1))
            })?;
            if c == label_col {
                labels.push(v);
            } else {
                values.push(v);
            }
        }
    }
    let x = Array2::from_shape_vec((labels.len(), d), values).expect("row lengths checked");
    Snapshots::from_labelled(x.view(), &labels, None).map_err(|e| e.context(&what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use ndarray_npy::write_npy;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ijkonet-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn npy_pair_in_f32_and_i32() {
        let (d, l) = (tmp("d32.npy"), tmp("l32.npy"));
        write_npy(&d, &array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]).unwrap();
        write_npy(&l, &array![2i32, 0, 2, 0]).unwrap();
        let s = read_labelled_npy(&d, &l).unwrap();
        assert_eq!(s.times(), vec![0.0, 2.0]);
        assert_eq!(s.get(0).unwrap().points, array![[3.0, 4.0], [7.0, 8.0]]);
        assert_eq!(s.get(1).unwrap().points, array![[1.0, 2.0], [5.0, 6.0]]);
        // A label vector of the wrong length is refused.
        write_npy(&l, &array![0i64, 1, 1]).unwrap();
        assert!(read_labelled_npy(&d, &l).unwrap_err().message().contains("3 labels given for 4 rows"));
    }

    #[test]
    fn npz_round_trip_keeps_times_and_points() {
        let s = Snapshots::new(
            vec![0.5, 3.0, 7.25],
            vec![array![[1.0], [2.0]], array![[3.0], [4.0], [5.0]], array![[6.0], [7.0]]],
        )
        .unwrap();
        let p = tmp("rt.npz");
        write_npz(&p, &s).unwrap();
        assert_eq!(read_npz(&p).unwrap(), s);
    }

    #[test]
    fn unreadable_and_malformed_files_give_errors() {
        let e = read_npy_matrix("/nonexistent/x.npy").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Io);
        let p = tmp("junk.npy");
        std::fs::write(&p, b"definitely not numpy").unwrap();
        assert_eq!(read_npy_matrix(&p).unwrap_err().kind(), crate::ErrorKind::Format);
        assert_eq!(read_npz(&p).unwrap_err().kind(), crate::ErrorKind::Format);
        let q = tmp("three.npy");
        write_npy(&q, &ndarray::Array3::<f64>::zeros((2, 2, 2))).unwrap();
        assert!(read_npy_matrix(&q).unwrap_err().message().contains("3 dimensions"));
        // An npz without the expected arrays names what is missing.
        let z = tmp("nolabels.npz");
        let mut w = NpzWriter::new(File::create(&z).unwrap());
        w.add_array("data", &array![[1.0, 2.0]]).unwrap();
        w.finish().unwrap();
        assert!(read_npz(&z).unwrap_err().message().contains("no array named 'labels'"));
    }

    #[test]
    fn csv_with_header_label_by_name_and_index() {
        let p = tmp("h.csv");
        std::fs::write(&p, "pc1,day,pc2\n1.0,0,2.0\n3.0,3,4.0\n5.0,0,6.0\n7.0,3,8.0\n").unwrap();
        let opts = CsvOptions { label: LabelColumn::Name("day".into()), ..Default::default() };
        let s = read_csv(&p, &opts).unwrap();
        assert_eq!(s.times(), vec![0.0, 3.0]);
        assert_eq!(s.get(0).unwrap().points, array![[1.0, 2.0], [5.0, 6.0]]);
        let by_index = CsvOptions { label: LabelColumn::Index(1), ..Default::default() };
        assert_eq!(read_csv(&p, &by_index).unwrap(), s);
        let e =
            read_csv(&p, &CsvOptions { label: LabelColumn::Name("time".into()), ..Default::default() }).unwrap_err();
        assert!(e.message().contains("no column named 'time'"), "{e}");
    }

    #[test]
    fn csv_without_header_and_bad_fields() {
        let p = tmp("n.csv");
        std::fs::write(&p, "1.0;2.0;0\n3.0;4.0;1\n5.0;6.0;0\n7.0;8.0;1\n").unwrap();
        let s = read_csv(&p, &CsvOptions { delimiter: b';', ..Default::default() }).unwrap();
        assert_eq!(s.sizes(), vec![2, 2]);
        assert_eq!(s.dim(), 2);
        std::fs::write(&p, "1.0,2.0,0\n3.0,x,1\n").unwrap();
        let e = read_csv(&p, &CsvOptions { header: CsvHeader::Absent, ..Default::default() }).unwrap_err();
        assert!(e.message().contains("line 2, column 2: 'x' is not a number"), "{e}");
        std::fs::write(&p, "").unwrap();
        assert!(read_csv(&p, &CsvOptions::default()).unwrap_err().message().contains("no rows"));
        std::fs::write(&p, "1.0,nan,0\n1.0,2.0,0\n1.0,2.0,1\n3.0,2.0,1\n").unwrap();
        assert!(read_csv(&p, &CsvOptions::default()).unwrap_err().message().contains("not finite"));
    }

    #[test]
    fn reads_the_shared_eb_data() {
        // The repository is checked out beside shared/ (as in CI); the file sizes are documented there.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/eb_pca5");
        let s = read_labelled_npy(root.join("data.npy"), root.join("sample_labels.npy")).unwrap();
        assert_eq!(s.sizes(), vec![2381, 4163, 3278, 3665, 3332]);
        assert_eq!(s.dim(), 5);
    }
}

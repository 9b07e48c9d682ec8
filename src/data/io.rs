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
use ndarray_npy::{NpzWriter, ReadNpyError, ReadNpyExt, ReadableElement};
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
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

/// Longest .npy header read before the size check (numpy itself refuses more than 10 000 bytes).
const MAX_NPY_HEADER: usize = 1 << 20;

/// What an .npy header declares, parsed completely so that nothing ndarray-npy would read differs.
#[derive(Debug, PartialEq)]
struct NpyHeader {
    descr: String,
    shape: Vec<u64>,
    /// Bytes before the data: magic, version, header length and header.
    data_offset: u64,
}

/// Read and parse the header at the start of an .npy stream.
fn read_npy_header<R: Read>(reader: R, what: &str) -> Result<NpyHeader> {
    let bad = |m: String| Error::format(format!("{what}: not a readable .npy array: {m}"));
    let mut reader = reader.take(MAX_NPY_HEADER as u64 + 12);
    let mut prefix = [0u8; 10];
    reader.read_exact(&mut prefix).map_err(|_| bad("the file is shorter than an .npy header".into()))?;
    if &prefix[..6] != b"\x93NUMPY" {
        return Err(bad("no .npy magic string at the start".into()));
    }
    let (len, offset) = match prefix[6] {
        1 => (usize::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10),
        2 | 3 => {
            let mut rest = [0u8; 2];
            reader.read_exact(&mut rest).map_err(|_| bad("truncated header length".into()))?;
            (u32::from_le_bytes([prefix[8], prefix[9], rest[0], rest[1]]) as usize, 12)
        }
        v => return Err(bad(format!("unsupported .npy format version {v}.{}", prefix[7]))),
    };
    if len > MAX_NPY_HEADER {
        return Err(bad(format!("header of {len} bytes (at most {MAX_NPY_HEADER} accepted)")));
    }
    let mut text = Vec::new();
    reader.take(len as u64).read_to_end(&mut text).map_err(|e| bad(e.to_string()))?;
    if text.len() < len {
        return Err(bad(format!("truncated header ({} of {len} bytes)", text.len())));
    }
    let text = std::str::from_utf8(&text).map_err(|_| bad("the header is not text".into()))?;
    let (descr, shape) = parse_npy_dict(text).map_err(|m| bad(format!("{m} in header {:?}", text.trim_end())))?;
    Ok(NpyHeader { descr, shape, data_offset: (offset + len) as u64 })
}

/// Parse the header dictionary strictly: exactly the keys `descr`, `fortran_order` and `shape`, each
/// once, with plain literals. A looser parse could read another shape than ndarray-npy does (a
/// duplicated key, an escape in a key) and let it allocate what was never checked.
fn parse_npy_dict(text: &str) -> std::result::Result<(String, Vec<u64>), String> {
    let mut s = text.trim_end_matches(['\n', ' ', '\0']).trim_start();
    let eat = |s: &mut &str, c: char| -> bool {
        *s = s.trim_start();
        s.strip_prefix(c).map(|r| *s = r).is_some()
    };
    let string = |s: &mut &str| -> std::result::Result<String, String> {
        *s = s.trim_start();
        let q = s.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or("expected a quoted string")?;
        let end = s[1..].find(q).ok_or("unterminated string")? + 1;
        let body = &s[1..end];
        if body.contains('\\') {
            return Err("escape sequences are not accepted".into());
        }
        *s = &s[end + 1..];
        Ok(body.to_string())
    };
    if !eat(&mut s, '{') {
        return Err("expected '{'".into());
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if eat(&mut s, '}') {
            break;
        }
        let key = string(&mut s)?;
        if !eat(&mut s, ':') {
            return Err(format!("expected ':' after '{key}'"));
        }
        match key.as_str() {
            "descr" if descr.is_none() => descr = Some(string(&mut s)?),
            "fortran_order" if fortran.is_none() => {
                s = s.trim_start();
                let v =
                    ["True", "False"].into_iter().find(|v| s.starts_with(v)).ok_or("fortran_order is not a boolean")?;
                s = &s[v.len()..];
                fortran = Some(v == "True");
            }
            "shape" if shape.is_none() => {
                let close = if eat(&mut s, '(') {
                    ')'
                } else if eat(&mut s, '[') {
                    ']'
                } else {
                    return Err("shape is not a tuple".into());
                };
                let end = s.find(close).ok_or("unterminated shape")?;
                let mut dims = Vec::new();
                for part in s[..end].split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let digits = part.strip_suffix('L').unwrap_or(part);
                    dims.push(digits.parse::<u64>().map_err(|_| format!("shape entry '{part}' is not a size"))?);
                }
                s = &s[end + 1..];
                shape = Some(dims);
            }
            k => return Err(format!("unexpected or repeated key '{k}'")),
        }
        if !eat(&mut s, ',') {
            if eat(&mut s, '}') {
                break;
            }
            return Err("expected ',' or '}'".into());
        }
    }
    if !s.trim().is_empty() {
        return Err("text after the dictionary".into());
    }
    match (descr, fortran, shape) {
        (Some(d), Some(_), Some(sh)) => Ok((d, sh)),
        _ => Err("a key of descr/fortran_order/shape is missing".into()),
    }
}

/// Bytes per element of the numpy type strings the decoder reads (those ndarray-npy accepts for the
/// types of [`Widen`]); None for any other type. ndarray-npy allocates before it checks the type, so
/// a type of size 0 ("|S0") must not pass with an unbounded element count.
fn item_size(descr: &str) -> Option<u64> {
    match descr {
        "<f8" | ">f8" | "<i8" | ">i8" | "<u8" | ">u8" => Some(8),
        "<f4" | ">f4" | "<i4" | ">i4" | "<u4" | ">u4" => Some(4),
        "<i2" | ">i2" | "<u2" | ">u2" => Some(2),
        "|i1" | "i1" | "b" | "|u1" | "u1" | "B" => Some(1),
        _ => None,
    }
}

/// Refuse an .npy whose header declares more data than the `available` bytes hold, before
/// ndarray-npy allocates what the header declares (it allocates first, then reads).
fn check_npy_size(header: &NpyHeader, available: u64, what: &str) -> Result<()> {
    let shape = &header.shape;
    let size = item_size(&header.descr).ok_or_else(|| {
        Error::format(format!("{what}: unsupported dtype '{}' (expected a float or integer array)", header.descr))
    })?;
    let bytes = shape
        .iter()
        .try_fold(size, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| Error::format(format!("{what}: the header declares shape {shape:?}, whose size overflows")))?;
    let data = available.saturating_sub(header.data_offset);
    if bytes > data {
        let count: u64 = shape.iter().product();
        return Err(Error::format(format!(
            "{what}: the header declares shape {shape:?} of '{}' ({count} values, {bytes} bytes) but only \
             {data} bytes of data follow: the file is truncated or corrupt",
            header.descr
        )));
    }
    Ok(())
}

/// Decode an .npy file after checking its header against the file length.
fn decode_npy_file(path: &Path, what: &str) -> Result<ArrayD<f64>> {
    let mut reader = open(path)?;
    let len = reader.get_ref().metadata().map_err(|e| Error::io(format!("cannot read {what}: {e}")))?.len();
    let header = read_npy_header(&mut reader, what)?;
    check_npy_size(&header, len, what)?;
    decode_npy(reader, what)
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
    to_matrix(decode_npy_file(path, &what)?, &what)
}

/// Read a .npy vector (n or n×1) of floats or integers as f64.
pub fn read_npy_vector(path: impl AsRef<Path>) -> Result<Array1<f64>> {
    let path = path.as_ref();
    let what = path.display().to_string();
    to_vector(decode_npy_file(path, &what)?, &what)
}

/// Read snapshots from a point matrix and a per-row label vector stored as two .npy files.
/// Each distinct label is one snapshot; its time is the label value.
pub fn read_labelled_npy(data: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Snapshots> {
    let x = read_npy_matrix(data)?;
    let l = read_npy_vector(&labels)?;
    let column = labels.as_ref().display().to_string();
    Snapshots::from_labelled_column(x.view(), l.as_slice().expect("contiguous"), None, &column)
}

/// An .npz archive opened for reading: the zip layer is read here, ndarray-npy decodes the entries.
struct Npz {
    zip: zip::ZipArchive<BufReader<File>>,
    /// Array names: entry names without ".npy", as numpy writes them.
    names: Vec<String>,
    what: String,
}

impl Npz {
    fn open(path: &Path) -> Result<Npz> {
        let what = path.display().to_string();
        let zip = zip::ZipArchive::new(open(path)?)
            .map_err(|e| Error::format(format!("{what}: not an .npz archive: {e}")))?;
        let names = zip.file_names().map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string()).collect();
        Ok(Npz { zip, names, what })
    }

    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Decode array `name` (entry `name.npy` or `name`) as f64.
    fn array(&mut self, name: &str) -> Result<ArrayD<f64>> {
        let what = format!("{}: array '{name}'", self.what);
        if !self.has(name) {
            let mut names = self.names.clone();
            names.sort();
            return Err(Error::format(format!(
                "{}: no array named '{name}' (arrays: {})",
                self.what,
                names.join(", ")
            )));
        }
        let entry = if self.zip.index_for_name(&format!("{name}.npy")).is_some() {
            format!("{name}.npy")
        } else {
            name.to_string()
        };
        let mut file = self.zip.by_name(&entry).map_err(|e| Error::format(format!("{what}: {e}")))?;
        let declared = file.size();
        // The header first: refused against the entry's declared size before anything large is read.
        let mut head = Vec::new();
        (&mut file).take(MAX_NPY_HEADER as u64 + 12).read_to_end(&mut head).map_err(|e| zip_read(&what, e))?;
        let header = read_npy_header(head.as_slice(), &what)?;
        check_npy_size(&header, declared, &what)?;
        // Then the rest, growing with the bytes that actually arrive (the declared size is not
        // trusted for an allocation) and stopping one byte past it.
        let mut bytes = head;
        (&mut file)
            .take((declared + 1).saturating_sub(bytes.len() as u64))
            .read_to_end(&mut bytes)
            .map_err(|e| zip_read(&what, e))?;
        if bytes.len() as u64 != declared {
            return Err(Error::format(format!(
                "{what}: the entry holds {} bytes but the archive declares {declared}",
                bytes.len()
            )));
        }
        check_npy_size(&header, bytes.len() as u64, &what)?;
        decode_npy(Cursor::new(bytes), &what)
    }
}

fn zip_read(what: &str, e: std::io::Error) -> Error {
    Error::format(format!("{what}: cannot decompress: {e}"))
}

/// Read snapshots from an .npz holding `data` (N×d), `labels` (N) and optionally `times`
/// (one per distinct label, in increasing label order; without it the label is the time).
pub fn read_npz(path: impl AsRef<Path>) -> Result<Snapshots> {
    let path = path.as_ref();
    let what = path.display().to_string();
    let mut npz = Npz::open(path)?;
    let data = to_matrix(npz.array("data")?, &what)?;
    let labels = to_vector(npz.array("labels")?, &what)?;
    let times = if npz.has("times") { Some(to_vector(npz.array("times")?, &what)?) } else { None };
    let labels = labels.to_vec();
    let column = "array 'labels'";
    match times {
        None => Snapshots::from_labelled_column(data.view(), &labels, None, column).map_err(|e| e.context(&what)),
        Some(times) => {
            if let Some(bad) = labels.iter().find(|l| !l.is_finite()) {
                return Err(Error::invalid_data(format!("{what}: array 'labels': label {bad} is not finite")));
            }
            // Finite, so partial_cmp is total and -0.0 equals 0.0, as in the grouping.
            let cmp = |a: &f64, b: &f64| a.partial_cmp(b).expect("finite labels");
            let mut distinct = labels.clone();
            distinct.sort_by(cmp);
            distinct.dedup();
            if distinct.len() != times.len() {
                return Err(Error::format(format!(
                    "{what}: 'times' has {} entries but 'labels' has {} distinct values",
                    times.len(),
                    distinct.len()
                )));
            }
            // Binary search: a linear lookup per label would make grouping quadratic.
            let lookup = |l: f64| {
                let k = distinct.binary_search_by(|d| cmp(d, &l)).expect("label from the same list");
                times[k]
            };
            Snapshots::from_labelled_column(data.view(), &labels, Some(&lookup), column).map_err(|e| e.context(&what))
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
    let line0 = if has_header { 2 } else { 1 };
    // Row lengths first: only then is rows × d bounded by the fields actually read (a long header
    // over many short rows would otherwise ask for an impossible allocation).
    if let Some((r, rec)) = rows.iter().enumerate().find(|(_, rec)| rec.len() != ncols) {
        return Err(Error::format(format!("{what}: line {} has {} fields, expected {ncols}", r + line0, rec.len())));
    }
    let mut values = Vec::with_capacity(rows.len() * d);
    let mut labels = Vec::with_capacity(rows.len());
    for (r, rec) in rows.iter().enumerate() {
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
    let column = match &header {
        Some(h) => format!("column '{}'", &h[label_col]),
        None => format!("column {}", label_col + 1),
    };
    Snapshots::from_labelled_column(x.view(), &labels, None, &column).map_err(|e| e.context(&what))
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

    /// An .npy file with the given header dictionary (padded as numpy does) followed by `data`.
    fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_headers_declaring_more_than_the_file_are_refused_before_allocating() {
        let p = tmp("huge.npy");
        // 8 TB declared, 16 bytes present: ndarray-npy alone would try to allocate the 8 TB.
        std::fs::write(
            &p,
            npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000), }", &[0; 16]),
        )
        .unwrap();
        let e = read_npy_matrix(&p).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Format);
        assert!(e.message().contains("huge.npy"), "{e}");
        assert!(e.message().contains("declares shape [1000000000, 1000]"), "{e}");
        assert!(e.message().contains("only 16 bytes of data follow"), "{e}");
        // A shape whose product overflows.
        std::fs::write(
            &p,
            npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", &[]),
        )
        .unwrap();
        assert!(read_npy_vector(&p).unwrap_err().message().contains("overflows"));
        // A type of size 0 cannot make an unbounded element count pass.
        std::fs::write(&p, npy_bytes("{'descr': '|S0', 'fortran_order': False, 'shape': (1000000000000,), }", &[]))
            .unwrap();
        assert!(read_npy_vector(&p).unwrap_err().message().contains("unsupported dtype '|S0'"));
        // A repeated key could make ndarray-npy see another shape than the one checked.
        let dup = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'shape': (1000000000000,), }";
        std::fs::write(&p, npy_bytes(dup, &[0; 8])).unwrap();
        assert!(read_npy_vector(&p).unwrap_err().message().contains("repeated key 'shape'"));
        // A truncated file: shape (4, 2) but 3 values.
        let q = tmp("trunc.npy");
        write_npy(&q, &array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]).unwrap();
        let bytes = std::fs::read(&q).unwrap();
        std::fs::write(&q, &bytes[..bytes.len() - 40]).unwrap();
        let e = read_npy_matrix(&q).unwrap_err();
        assert!(e.message().contains("declares shape [4, 2]") && e.message().contains("24 bytes"), "{e}");
        // Headers as numpy writes them still read, with either quote style and big-endian data.
        std::fs::write(
            &q,
            npy_bytes("{\"descr\": \">i4\", \"fortran_order\": True, \"shape\": (2, 1)}", &[0, 0, 0, 7, 0, 0, 0, 9]),
        )
        .unwrap();
        assert_eq!(read_npy_matrix(&q).unwrap(), array![[7.0], [9.0]]);
    }

    #[test]
    fn npz_entries_declaring_more_than_they_hold_are_refused() {
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            let p = tmp("huge.npz");
            let mut z = zip::ZipWriter::new(File::create(&p).unwrap());
            let opts = zip::write::SimpleFileOptions::default().compression_method(method);
            z.start_file("data.npy", opts).unwrap();
            let huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000), }";
            std::io::Write::write_all(&mut z, &npy_bytes(huge, &[0; 16])).unwrap();
            z.start_file("labels.npy", opts).unwrap();
            std::io::Write::write_all(
                &mut z,
                &npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", &[0; 16]),
            )
            .unwrap();
            z.finish().unwrap();
            let e = read_npz(&p).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Format);
            assert!(e.message().contains("huge.npz: array 'data'"), "{e}");
            assert!(e.message().contains("declares shape [1000000000, 1000]"), "{e}");
        }
    }

    #[test]
    fn csv_long_header_over_short_rows_is_an_error_not_an_allocation() {
        let p = tmp("wide.csv");
        // 100 000 header columns over 100 000 one-field rows: rows × columns alone is 10¹⁰ values.
        let mut text = vec!["c"; 100_000].join(",");
        text.push('\n');
        text.push_str(&"1\n".repeat(100_000));
        std::fs::write(&p, text).unwrap();
        let e = read_csv(&p, &CsvOptions::default()).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Format);
        assert!(e.message().contains("line 2: CSV error") && e.message().contains("found record with 1 fields"), "{e}");
    }

    #[test]
    fn label_columns_are_named_in_label_errors() {
        let p = tmp("coords.csv");
        let mut text = String::from("day,x\n");
        for i in 0..1000 {
            text.push_str(&format!("{},{i}\n", i % 3));
        }
        std::fs::write(&p, &text).unwrap();
        let opts = CsvOptions { label: LabelColumn::Name("x".into()), ..Default::default() };
        let e = read_csv(&p, &opts).unwrap_err();
        assert!(
            e.message().ends_with(
                "coords.csv: column 'x': 1000 distinct values in 1000 rows; is this really a time column? \
                 (every snapshot needs at least 2 rows)"
            ),
            "{e}"
        );
        assert_eq!(read_csv(&p, &CsvOptions { label: LabelColumn::Index(0), ..Default::default() }).unwrap().len(), 3);
        std::fs::write(&p, "1,0\n2,0\n3,inf\n4,1\n").unwrap();
        let e = read_csv(&p, &CsvOptions::default()).unwrap_err();
        assert!(e.message().contains("column 2: time label inf at index 2 is not finite"), "{e}");
        // The same for the labels of an .npy pair: the labels file is named.
        let (d, l) = (tmp("pd.npy"), tmp("pl.npy"));
        write_npy(&d, &Array2::<f64>::zeros((10, 2))).unwrap();
        write_npy(&l, &Array1::from_iter((0..10).map(|i| i as f64))).unwrap();
        let e = read_labelled_npy(&d, &l).unwrap_err();
        assert!(e.message().contains("pl.npy: 10 distinct values in 10 rows"), "{e}");
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

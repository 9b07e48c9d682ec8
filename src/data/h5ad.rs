//! AnnData `.h5ad` input: one matrix of cells (`X`, an `obsm` entry or a layer) grouped into
//! snapshots by a time column of `obs`.
//!
//! The layout read is the one the `anndata` Python package writes (format 0.1/0.2, anndata ≥ 0.8),
//! plus the older one (anndata 0.7) where a categorical column is its codes as a dataset with the
//! categories in `obs/__categories/<column>`:
//!
//! - matrices: a dense 2-D numeric dataset, or a sparse group (`encoding-type` `csr_matrix` /
//!   `csc_matrix`, or the older `h5sparse_format` attribute) with `data`, `indices`, `indptr` and a
//!   `shape` attribute; sparse matrices are densified;
//! - time column: a numeric dataset (used as it is), a categorical group (`categories`, `codes`,
//!   `ordered`): numeric categories, or labels that all parse as numbers, are the times; other labels
//!   need explicit times ([`H5adOptions::time_values`]); a plain string column likewise.

use super::Snapshots;
use crate::error::{Error, Result};
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, Group, LocationType};
use ndarray::Array2;
use std::path::Path;

/// Which matrix of the AnnData file holds the points (one row per cell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matrix {
    /// `X`, the main matrix (dense or sparse).
    X,
    /// An entry of `obsm`, e.g. `X_pca`.
    Obsm(String),
    /// An entry of `layers`.
    Layer(String),
}

impl Matrix {
    /// How messages name the matrix, as Python would write it.
    fn describe(&self) -> String {
        match self {
            Matrix::X => "X".into(),
            Matrix::Obsm(k) => format!("obsm['{k}']"),
            Matrix::Layer(k) => format!("layers['{k}']"),
        }
    }
}

/// How to read an `.h5ad` file into snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct H5adOptions {
    /// The points: `X`, an `obsm` key or a layer.
    pub matrix: Matrix,
    /// The `obs` column holding each cell's time.
    pub time_key: String,
    /// Explicit times of the column's labels (label, time), for categorical or string columns whose
    /// labels are not numbers (e.g. `day2`, `day10`). Every label present must be given.
    pub time_values: Option<Vec<(String, f64)>>,
}

impl H5adOptions {
    pub fn new(matrix: Matrix, time_key: impl Into<String>) -> Self {
        H5adOptions { matrix, time_key: time_key.into(), time_values: None }
    }
}

/// Parse `LABEL=TIME,LABEL=TIME,…` (the CLI's `--time-values`) into (label, time) pairs.
pub fn parse_time_values(s: &str) -> Result<Vec<(String, f64)>> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (label, time) = item.rsplit_once('=').ok_or_else(|| {
            Error::invalid_argument(format!("time values: '{item}' is not LABEL=TIME (e.g. day2=2,day10=10)"))
        })?;
        let label = label.trim();
        let t: f64 = time.trim().parse().ok().filter(|t: &f64| t.is_finite()).ok_or_else(|| {
            Error::invalid_argument(format!("time values: '{time}' (for '{label}') is not a finite number"))
        })?;
        if out.iter().any(|(l, _)| l == label) {
            return Err(Error::invalid_argument(format!("time values: label '{label}' is given twice")));
        }
        out.push((label.to_string(), t));
    }
    if out.is_empty() {
        return Err(Error::invalid_argument("time values: none given (expected LABEL=TIME,…)"));
    }
    Ok(out)
}

/// Read snapshots from an AnnData `.h5ad` file: the rows of `options.matrix`, grouped by the time in
/// `obs[options.time_key]`. Errors are one line, prefixed with the path: `Io` when the file cannot be
/// opened, `Format` when it is not HDF5/AnnData or a matrix is malformed or of an unsupported kind,
/// `InvalidArgument` for a missing key (the message lists those available) or unusable explicit times,
/// `InvalidData` for non-finite values or labels that are not times.
pub fn read_h5ad(path: impl AsRef<Path>, options: &H5adOptions) -> Result<Snapshots> {
    let path = path.as_ref();
    read(path, options).map_err(|e| e.context(path.display()))
}

/// Upper bound on the values of a densified matrix (2 GiB of f64): a full sparse gene matrix would
/// not fit in memory, and the learning wants a reduced representation anyway.
const MAX_DENSE_VALUES: usize = 1 << 28;

fn read(path: &Path, options: &H5adOptions) -> Result<Snapshots> {
    // Open with std first so a missing or unreadable file is an I/O error, not "not HDF5".
    std::fs::File::open(path).map_err(|e| Error::io(format!("cannot open: {e}")))?;
    let file =
        hdf5::File::open(path).map_err(|e| Error::format(format!("not a readable HDF5 file ({})", h5msg(&e))))?;
    if kind_of(&file, "obs") != Some(LocationType::Group) {
        return Err(Error::format("no 'obs' group: not an AnnData file"));
    }
    let obs = file.group("obs").map_err(h5err("obs"))?;
    let n_obs = obs_len(&obs)?;
    let key = options.time_key.as_str();
    let times = cell_times(&obs, key, options.time_values.as_deref())?;
    if let Some(n) = n_obs.filter(|&n| n != times.len()) {
        return Err(Error::format(format!("obs column '{key}' has {} entries but obs has {n} cells", times.len())));
    }
    let what = options.matrix.describe();
    let data = read_matrix(&file, &options.matrix)?;
    if data.nrows() != times.len() {
        return Err(Error::format(format!("{what} has {} rows but obs has {} cells", data.nrows(), times.len())));
    }
    if let Some(((i, j), v)) = data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid_data(format!("{what}: value {v} at row {i}, column {j} is not finite")));
    }
    Snapshots::from_labelled_column(data.view(), &times, None, &format!("obs column '{key}'"))
}

// ------------------------------------------------------------------------------------ HDF5 helpers

/// HDF5's message on one line (the library's stack can span several).
fn h5msg(e: &hdf5::Error) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn h5err(what: &str) -> impl Fn(hdf5::Error) -> Error + '_ {
    move |e| Error::format(format!("cannot read {what}: {}", h5msg(&e)))
}

/// What `name` is inside `group` (None when there is no such member).
fn kind_of(group: &Group, name: &str) -> Option<LocationType> {
    // A name with '/' would walk into subgroups: AnnData keys never contain one.
    if name.is_empty() || name.contains('/') || !group.link_exists(name) {
        return None;
    }
    group.loc_type_by_name(name).ok()
}

/// A string attribute (anndata writes them as variable-length UTF-8; older tools as ASCII).
fn str_attr(loc: &hdf5::Location, name: &str) -> Option<String> {
    let attr = loc.attr(name).ok()?;
    match attr.dtype().ok()?.to_descriptor().ok()? {
        TypeDescriptor::VarLenUnicode => attr.read_scalar::<VarLenUnicode>().ok().map(|s| s.as_str().to_string()),
        TypeDescriptor::VarLenAscii => attr.read_scalar::<VarLenAscii>().ok().map(|s| s.as_str().to_string()),
        _ => None,
    }
}

/// A boolean attribute such as `ordered` (h5py writes numpy booleans as an int8 enum FALSE/TRUE).
fn bool_attr(loc: &hdf5::Location, name: &str) -> bool {
    let Ok(attr) = loc.attr(name) else { return false };
    attr.read_scalar::<bool>().ok().or_else(|| attr.read_scalar::<i8>().ok().map(|v| v != 0)).unwrap_or(false)
}

fn is_numeric(t: &TypeDescriptor) -> bool {
    matches!(t, TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_))
}

fn descriptor(ds: &Dataset, what: &str) -> Result<TypeDescriptor> {
    ds.dtype().and_then(|t| t.to_descriptor()).map_err(h5err(what))
}

/// A 1-D numeric dataset as f64 (HDF5 converts integers and f32).
fn read_numbers(ds: &Dataset, what: &str) -> Result<Vec<f64>> {
    let t = descriptor(ds, what)?;
    if !is_numeric(&t) {
        return Err(Error::format(format!("{what} holds {t}, not numbers")));
    }
    ds.read_raw::<f64>().map_err(h5err(what))
}

fn read_ints(ds: &Dataset, what: &str) -> Result<Vec<i64>> {
    match descriptor(ds, what)? {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => ds.read_raw::<i64>().map_err(h5err(what)),
        t => Err(Error::format(format!("{what} holds {t}, not integers"))),
    }
}

fn read_strings(ds: &Dataset, what: &str) -> Result<Vec<String>> {
    match descriptor(ds, what)? {
        TypeDescriptor::VarLenUnicode => {
            Ok(ds.read_raw::<VarLenUnicode>().map_err(h5err(what))?.iter().map(|s| s.as_str().to_string()).collect())
        }
        TypeDescriptor::VarLenAscii => {
            Ok(ds.read_raw::<VarLenAscii>().map_err(h5err(what))?.iter().map(|s| s.as_str().to_string()).collect())
        }
        t => Err(Error::format(format!("{what} holds {t}, which is not supported"))),
    }
}

fn member(group: &Group, name: &str, what: &str) -> Result<Dataset> {
    if kind_of(group, name) != Some(LocationType::Dataset) {
        return Err(Error::format(format!("{what}: no '{name}' dataset")));
    }
    group.dataset(name).map_err(h5err(what))
}

// ------------------------------------------------------------------------------------------- obs

/// Number of cells, from the obs index (`_index` attribute naming a dataset); None when absent.
fn obs_len(obs: &Group) -> Result<Option<usize>> {
    let index = str_attr(obs, "_index").unwrap_or_else(|| "_index".into());
    if kind_of(obs, &index) != Some(LocationType::Dataset) {
        return Ok(None);
    }
    let ds = obs.dataset(&index).map_err(h5err("the obs index"))?;
    Ok(Some(ds.shape().first().copied().unwrap_or(0)))
}

/// The obs columns, for messages: in the data frame's order (`column-order`) when stored, else the
/// members other than the index and the old categories group.
fn obs_columns(obs: &Group) -> String {
    let ordered = obs.attr("column-order").and_then(|a| a.read_raw::<VarLenUnicode>());
    if let Ok(names) = ordered {
        let names: Vec<String> = names.iter().map(|s| s.as_str().to_string()).collect();
        return list(&names);
    }
    let index = str_attr(obs, "_index").unwrap_or_else(|| "_index".into());
    let names: Vec<String> =
        obs.member_names().unwrap_or_default().into_iter().filter(|n| *n != index && n != "__categories").collect();
    list(&names)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A time column as stored.
enum Column {
    Numbers(Vec<f64>),
    /// Per-cell code into `categories` (-1: missing).
    Categorical {
        categories: Labels,
        codes: Vec<i64>,
        ordered: bool,
    },
    Strings(Vec<String>),
}

enum Labels {
    Numbers(Vec<f64>),
    Strings(Vec<String>),
}

fn read_column(obs: &Group, key: &str) -> Result<Column> {
    let what = format!("obs column '{key}'");
    match kind_of(obs, key) {
        None => Err(Error::invalid_argument(format!("no obs column '{key}' (obs columns: {})", obs_columns(obs)))),
        Some(LocationType::Dataset) => {
            let ds = obs.dataset(key).map_err(h5err(&what))?;
            if ds.ndim() != 1 {
                return Err(Error::format(format!("{what} is {}-dimensional, not a column", ds.ndim())));
            }
            // anndata 0.7: integer codes here, the categories in obs/__categories/<key>.
            let legacy = obs.group("__categories").ok().filter(|g| kind_of(g, key) == Some(LocationType::Dataset));
            if let Some(cats) = legacy {
                let cats_ds = cats.dataset(key).map_err(h5err(&what))?;
                let ordered = bool_attr(&cats_ds, "ordered");
                let categories = read_labels(&cats_ds, &what)?;
                return Ok(Column::Categorical { categories, codes: read_ints(&ds, &what)?, ordered });
            }
            let t = descriptor(&ds, &what)?;
            if is_numeric(&t) {
                Ok(Column::Numbers(ds.read_raw::<f64>().map_err(h5err(&what))?))
            } else {
                Ok(Column::Strings(read_strings(&ds, &what)?))
            }
        }
        Some(LocationType::Group) => {
            let g = obs.group(key).map_err(h5err(&what))?;
            let encoding = str_attr(&g, "encoding-type").unwrap_or_default();
            match encoding.as_str() {
                "categorical" => {
                    let categories = read_labels(&member(&g, "categories", &what)?, &what)?;
                    let codes = read_ints(&member(&g, "codes", &what)?, &what)?;
                    Ok(Column::Categorical { categories, codes, ordered: bool_attr(&g, "ordered") })
                }
                // pandas' nullable integers/floats (anndata ≥ 0.10): masked entries are missing.
                "nullable-integer" | "nullable-float" => {
                    let mut values = read_numbers(&member(&g, "values", &what)?, &what)?;
                    let mask = member(&g, "mask", &what)?.read_raw::<bool>().map_err(h5err(&what))?;
                    for (v, _) in values.iter_mut().zip(&mask).filter(|(_, &m)| m) {
                        *v = f64::NAN;
                    }
                    Ok(Column::Numbers(values))
                }
                e => Err(Error::format(format!(
                    "{what} has encoding '{e}'; a time column must be numeric, categorical or strings"
                ))),
            }
        }
        Some(_) => Err(Error::format(format!("{what} is neither a dataset nor a group"))),
    }
}

fn read_labels(ds: &Dataset, what: &str) -> Result<Labels> {
    let t = descriptor(ds, what)?;
    if is_numeric(&t) {
        Ok(Labels::Numbers(ds.read_raw::<f64>().map_err(h5err(what))?))
    } else {
        Ok(Labels::Strings(read_strings(ds, what)?))
    }
}

/// Labels that all parse as finite numbers, as those numbers.
fn parse_all(labels: &[String]) -> Option<Vec<f64>> {
    labels.iter().map(|l| l.trim().parse::<f64>().ok().filter(|v| v.is_finite())).collect()
}

/// Each cell's time, from the column and the optional explicit times of its labels.
fn cell_times(obs: &Group, key: &str, explicit: Option<&[(String, f64)]>) -> Result<Vec<f64>> {
    let what = format!("obs column '{key}'");
    let hint = |labels: &[&str]| {
        let eg: Vec<String> = labels.iter().map(|l| format!("{l}=T")).collect();
        format!("give their times (CLI: --time-values {})", eg.join(","))
    };
    match read_column(obs, key)? {
        Column::Numbers(v) => {
            if explicit.is_some() {
                return Err(Error::invalid_argument(format!(
                    "{what} is numeric: its values are the times (explicit time values apply to label columns)"
                )));
            }
            // Non-finite values are reported by the grouping, with their index.
            Ok(v)
        }
        Column::Categorical { categories, codes, ordered } => {
            let n_cat = match &categories {
                Labels::Numbers(v) => v.len(),
                Labels::Strings(v) => v.len(),
            };
            if let Some((i, &c)) = codes.iter().enumerate().find(|(_, &c)| c < 0 || c as usize >= n_cat) {
                return Err(if c < 0 {
                    Error::invalid_data(format!("{what}: cell {i} has no value (missing category)"))
                } else {
                    Error::format(format!("{what}: cell {i} has code {c} but there are {n_cat} categories"))
                });
            }
            // The times of the categories, in category order.
            let cat_times: Vec<f64> = match (&categories, explicit) {
                (Labels::Numbers(v), None) => v.clone(),
                (Labels::Strings(s), None) => match parse_all(s) {
                    Some(v) => v,
                    None => {
                        let labels: Vec<&str> = s.iter().map(String::as_str).collect();
                        let kind = if ordered {
                            format!("an ordered categorical of non-numeric labels ({})", labels.join(" < "))
                        } else {
                            format!("an unordered categorical of non-numeric labels ({})", labels.join(", "))
                        };
                        return Err(Error::invalid_data(format!("{what} is {kind}: {}", hint(&labels))));
                    }
                },
                (labels, Some(given)) => {
                    let names: Vec<String> = match labels {
                        Labels::Numbers(v) => v.iter().map(|x| x.to_string()).collect(),
                        Labels::Strings(s) => s.clone(),
                    };
                    let mut used = vec![false; names.len()];
                    for &c in &codes {
                        used[c as usize] = true;
                    }
                    let t = explicit_times(&what, &names, &used, given)?;
                    if ordered {
                        check_order(&what, &names, &used, &t)?;
                    }
                    t
                }
            };
            Ok(codes.iter().map(|&c| cat_times[c as usize]).collect())
        }
        Column::Strings(s) => {
            let mut distinct = s.clone();
            distinct.sort();
            distinct.dedup();
            match explicit {
                None => {
                    if let Some(v) = parse_all(&s) {
                        return Ok(v);
                    }
                    let shown: Vec<&str> = distinct.iter().take(5).map(String::as_str).collect();
                    let more = if distinct.len() > 5 { ", …" } else { "" };
                    // Mostly distinct strings (cell barcodes, names) cannot be snapshot labels.
                    let advice = if distinct.len() * 2 > s.len() {
                        format!("{} distinct values in {} cells: not a time column", distinct.len(), s.len())
                    } else {
                        hint(&shown)
                    };
                    Err(Error::invalid_data(format!(
                        "{what} holds strings that are not numbers ({}{more}); {advice}",
                        shown.join(", ")
                    )))
                }
                Some(given) => {
                    let used = vec![true; distinct.len()];
                    let t = explicit_times(&what, &distinct, &used, given)?;
                    Ok(s.iter().map(|l| t[distinct.binary_search(l).expect("label from the column")]).collect())
                }
            }
        }
    }
}

/// The explicit time of each label (NaN for unused ones); every used label needs one, and every
/// given label must exist (a typo would otherwise pass silently).
fn explicit_times(what: &str, names: &[String], used: &[bool], given: &[(String, f64)]) -> Result<Vec<f64>> {
    if let Some((l, _)) = given.iter().find(|(l, _)| !names.contains(l)) {
        return Err(Error::invalid_argument(format!(
            "time values: '{l}' is not a label of {what} (labels: {})",
            list(names)
        )));
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(used)
        .filter(|(n, &u)| u && !given.iter().any(|(l, _)| l == *n))
        .map(|(n, _)| n.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid_argument(format!(
            "time values: no time given for {}: {}",
            what,
            missing.join(", ")
        )));
    }
    Ok(names.iter().map(|n| given.iter().find(|(l, _)| l == n).map_or(f64::NAN, |&(_, t)| t)).collect())
}

/// Explicit times must follow an ordered categorical's declared order: a contradiction is almost
/// certainly a mistake in the times given.
fn check_order(what: &str, names: &[String], used: &[bool], times: &[f64]) -> Result<()> {
    let seq: Vec<usize> = (0..names.len()).filter(|&k| used[k]).collect();
    for w in seq.windows(2) {
        let (a, b) = (w[0], w[1]);
        if times[b] <= times[a] {
            return Err(Error::invalid_argument(format!(
                "time values contradict the order of {what}: {} < {} but their times are {} and {}",
                names[a], names[b], times[a], times[b]
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------- matrix

fn read_matrix(file: &hdf5::File, matrix: &Matrix) -> Result<Array2<f64>> {
    let what = matrix.describe();
    let (parent, name): (Group, &str) = match matrix {
        Matrix::X => (file.group("/").map_err(h5err("/"))?, "X"),
        Matrix::Obsm(k) | Matrix::Layer(k) => {
            let gname = if matches!(matrix, Matrix::Obsm(_)) { "obsm" } else { "layers" };
            let g = match kind_of(file, gname) {
                Some(LocationType::Group) => file.group(gname).map_err(h5err(gname))?,
                _ => return Err(Error::invalid_argument(format!("no {what}: the file has no '{gname}'"))),
            };
            (g, k.as_str())
        }
    };
    match kind_of(&parent, name) {
        None => {
            let available = match matrix {
                Matrix::X => format!("obsm keys: {}; layers: {}", keys(file, "obsm"), keys(file, "layers")),
                Matrix::Obsm(_) => format!("obsm keys: {}", keys(file, "obsm")),
                Matrix::Layer(_) => format!("layers: {}", keys(file, "layers")),
            };
            Err(Error::invalid_argument(format!("no {what} ({available})")))
        }
        Some(LocationType::Dataset) => dense(&parent.dataset(name).map_err(h5err(&what))?, &what),
        Some(LocationType::Group) => sparse(&parent.group(name).map_err(h5err(&what))?, &what),
        Some(_) => Err(Error::format(format!("{what} is neither a dataset nor a group"))),
    }
}

fn keys(file: &hdf5::File, group: &str) -> String {
    match file.group(group).and_then(|g| g.member_names()) {
        Ok(names) => list(&names),
        Err(_) => "none".into(),
    }
}

fn dense(ds: &Dataset, what: &str) -> Result<Array2<f64>> {
    let shape = ds.shape();
    if shape.len() != 2 {
        return Err(Error::format(format!(
            "{what} is {}-dimensional; a matrix (cells × features) is needed",
            shape.len()
        )));
    }
    let t = descriptor(ds, what)?;
    if !is_numeric(&t) {
        return Err(Error::format(format!("{what} holds {t}, not numbers")));
    }
    let v = ds.read_raw::<f64>().map_err(h5err(what))?;
    Array2::from_shape_vec((shape[0], shape[1]), v).map_err(|e| Error::format(format!("{what}: {e}")))
}

/// A CSR/CSC group, densified. Repeated entries add up, as in scipy.
fn sparse(g: &Group, what: &str) -> Result<Array2<f64>> {
    let encoding = str_attr(g, "encoding-type")
        .or_else(|| str_attr(g, "h5sparse_format").map(|f| format!("{f}_matrix")))
        .unwrap_or_default();
    let by_row = match encoding.as_str() {
        "csr_matrix" => true,
        "csc_matrix" => false,
        "" => return Err(Error::format(format!("{what} is a group without an encoding: not a matrix"))),
        e => {
            return Err(Error::format(format!(
                "{what} has encoding '{e}'; supported are dense arrays and CSR/CSC sparse matrices"
            )))
        }
    };
    let shape_attr = g.attr("shape").or_else(|_| g.attr("h5sparse_shape")).map_err(h5err(what))?;
    let shape = shape_attr.read_raw::<i64>().map_err(h5err(what))?;
    let [rows, cols] = shape[..] else {
        return Err(Error::format(format!("{what}: shape {shape:?} is not 2-dimensional")));
    };
    let (rows, cols) = (to_usize(rows, what)?, to_usize(cols, what)?);
    if rows.checked_mul(cols).is_none_or(|n| n > MAX_DENSE_VALUES) {
        return Err(Error::invalid_data(format!(
            "{what} is {rows} × {cols}: too large to densify; choose a reduced matrix (e.g. an obsm key such as X_pca)"
        )));
    }
    let data = read_numbers(&member(g, "data", what)?, &format!("{what}/data"))?;
    let indices = read_ints(&member(g, "indices", what)?, &format!("{what}/indices"))?;
    let indptr = read_ints(&member(g, "indptr", what)?, &format!("{what}/indptr"))?;
    let (major, minor) = if by_row { (rows, cols) } else { (cols, rows) };
    let bad = |m: String| Error::format(format!("{what}: {m}"));
    if indptr.len() != major + 1 {
        return Err(bad(format!(
            "indptr has {} entries for {major} {}",
            indptr.len(),
            if by_row { "rows" } else { "columns" }
        )));
    }
    if data.len() != indices.len() {
        return Err(bad(format!("{} values but {} indices", data.len(), indices.len())));
    }
    if indptr[0] != 0 || indptr.windows(2).any(|w| w[1] < w[0]) || indptr[major] as usize != data.len() {
        return Err(bad("indptr is not a non-decreasing sequence from 0 to the number of values".into()));
    }
    let mut out = Array2::<f64>::zeros((rows, cols));
    for a in 0..major {
        for p in indptr[a] as usize..indptr[a + 1] as usize {
            let b = usize::try_from(indices[p])
                .ok()
                .filter(|&b| b < minor)
                .ok_or_else(|| bad(format!("index {} out of range (0..{minor})", indices[p])))?;
            let (i, j) = if by_row { (a, b) } else { (b, a) };
            out[[i, j]] += data[p];
        }
    }
    Ok(out)
}

fn to_usize(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::format(format!("{what}: negative size {v} in shape")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_values_parse() {
        let v = parse_time_values("day2=2, day10=10,x=1e-3").unwrap();
        assert_eq!(v, vec![("day2".into(), 2.0), ("day10".into(), 10.0), ("x".into(), 1e-3)]);
        // A label may itself contain '=': the time is after the last one.
        assert_eq!(parse_time_values("a=b=3").unwrap(), vec![("a=b".into(), 3.0)]);
        for bad in ["", "day2", "day2=x", "day2=nan", "a=1,a=2"] {
            let e = parse_time_values(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{bad}: {e}");
        }
    }

    #[test]
    fn labels_parse_only_when_all_numeric() {
        assert_eq!(parse_all(&["0".into(), " 3.5".into(), "6".into()]), Some(vec![0.0, 3.5, 6.0]));
        assert_eq!(parse_all(&["0".into(), "day3".into()]), None);
        assert_eq!(parse_all(&["inf".into()]), None);
    }

    #[test]
    fn explicit_times_need_every_used_label_and_no_unknown_one() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let given = |v: &[(&str, f64)]| v.iter().map(|(l, t)| (l.to_string(), *t)).collect::<Vec<_>>();
        let t = explicit_times("col", &names, &[true, true, false], &given(&[("a", 1.0), ("b", 2.0)])).unwrap();
        assert_eq!(&t[..2], &[1.0, 2.0]);
        assert!(t[2].is_nan());
        let e = explicit_times("col", &names, &[true, true, true], &given(&[("a", 1.0)])).unwrap_err();
        assert!(e.message().contains("b, c"), "{e}");
        let e = explicit_times("col", &names, &[true, false, false], &given(&[("a", 1.0), ("z", 2.0)])).unwrap_err();
        assert!(e.message().contains("'z'") && e.message().contains("a, b, c"), "{e}");
        assert!(check_order("col", &names, &[true, true, true], &[1.0, 2.0, 3.0]).is_ok());
        // Unused categories do not take part in the order check.
        assert!(check_order("col", &names, &[true, false, true], &[1.0, f64::NAN, 3.0]).is_ok());
        assert!(check_order("col", &names, &[true, true, true], &[1.0, 3.0, 2.0]).is_err());
    }
}

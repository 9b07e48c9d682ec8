//! PNG figures for the command-line tool: level curves of scalar fields on a grid (marching
//! squares), scatter plots of point clouds, and line plots of training curves. Behind the cargo
//! feature `plot` (turned on by `cli`), so the C ABI library does not link plotters.
//!
//! Text (titles, tick labels) needs a TrueType font at run time; the first of `IJKONET_FONT`, the
//! DejaVu Sans of Debian's `fonts-dejavu-core` and a few usual system paths is used. Without one
//! the figures are drawn without text rather than failing.

use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Font family name under which the run-time font is registered.
const FAMILY: &str = "sans-serif";

/// Fonts tried in order when `IJKONET_FONT` is unset or unreadable.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Whether a font could be registered (looked up once per process).
pub fn has_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("IJKONET_FONT").ok();
        env.iter().map(String::as_str).chain(FONT_PATHS.iter().copied()).any(|path| {
            let Ok(bytes) = std::fs::read(path) else { return false };
            // plotters keeps a 'static reference; the font lives for the whole process anyway.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// Values of a scalar field on a rectangular grid: `values[[i, j]]` is the value at `(xs[i], ys[j])`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    pub values: Array2<f64>,
}

impl Grid {
    /// Evaluate `f` on an `nx × ny` grid spanning `[x0, x1] × [y0, y1]`. `f` gets all grid points
    /// at once as an (nx·ny) × 2 matrix (row i·ny + j is `(xs[i], ys[j])`) and returns one value per row.
    pub fn evaluate(
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
        (nx, ny): (usize, usize),
        f: impl FnOnce(ArrayView2<f64>) -> Result<Vec<f64>>,
    ) -> Result<Grid> {
        if nx < 2 || ny < 2 || !(x0 < x1 && y0 < y1) || ![x0, x1, y0, y1].iter().all(|v| v.is_finite()) {
            return Err(Error::invalid_argument(format!(
                "grid needs at least 2×2 points on a finite, non-empty box, got {nx}×{ny} on [{x0}, {x1}]×[{y0}, {y1}]"
            )));
        }
        let xs: Vec<f64> = (0..nx).map(|i| x0 + (x1 - x0) * i as f64 / (nx - 1) as f64).collect();
        let ys: Vec<f64> = (0..ny).map(|j| y0 + (y1 - y0) * j as f64 / (ny - 1) as f64).collect();
        let points = Array2::from_shape_fn((nx * ny, 2), |(r, c)| if c == 0 { xs[r / ny] } else { ys[r % ny] });
        let v = f(points.view())?;
        if v.len() != nx * ny {
            return Err(Error::internal(format!("grid function returned {} values for {} points", v.len(), nx * ny)));
        }
        if let Some(bad) = v.iter().find(|v| !v.is_finite()) {
            return Err(Error::numerical(format!("grid function returned a non-finite value ({bad})")));
        }
        let values = Array2::from_shape_vec((nx, ny), v).expect("nx·ny values");
        Ok(Grid { xs, ys, values })
    }

    /// (min, max) of the values.
    pub fn range(&self) -> (f64, f64) {
        self.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    }
}

/// A line segment between two points of the plane.
pub type Segment = ((f64, f64), (f64, f64));

/// The level set {f = level} of a grid field as line segments (marching squares, linear
/// interpolation along cell edges; a saddle cell pairs its crossings in edge order).
pub fn level_set(grid: &Grid, level: f64) -> Vec<Segment> {
    let (nx, ny) = grid.values.dim();
    let v = &grid.values;
    let mut segments = Vec::new();
    for i in 0..nx.saturating_sub(1) {
        for j in 0..ny.saturating_sub(1) {
            // Corners counter-clockwise from (i, j); edge e joins corner e and corner e+1.
            let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            let mut crossings: Vec<(f64, f64)> = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (corners[e], corners[(e + 1) % 4]);
                let (va, vb) = (v[a], v[b]);
                if (va >= level) != (vb >= level) {
                    let s = (level - va) / (vb - va);
                    let (xa, ya) = (grid.xs[a.0], grid.ys[a.1]);
                    let (xb, yb) = (grid.xs[b.0], grid.ys[b.1]);
                    crossings.push((xa + s * (xb - xa), ya + s * (yb - ya)));
                }
            }
            for pair in crossings.chunks_exact(2) {
                segments.push((pair[0], pair[1]));
            }
        }
    }
    segments
}

fn draw_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(format!("cannot draw {}: {e}", path.display()))
}

/// A padded, non-degenerate axis range around the given values.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !(lo.is_finite() && hi.is_finite()) {
        return (-1.0, 1.0);
    }
    if hi - lo < 1e-12 * (1.0 + lo.abs()) {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Near-square panel layout (rows, columns) for `n` panels.
fn layout(n: usize) -> (usize, usize) {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    (n.div_ceil(cols).max(1), cols)
}

/// A drawing area of the bitmap backend.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn panels_area(path: &Path, n: usize, panel_px: (u32, u32)) -> Result<(Area<'_>, Vec<Area<'_>>)> {
    let (rows, cols) = layout(n);
    let root = BitMapBackend::new(path, (panel_px.0 * cols as u32, panel_px.1 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_error(path, e))?;
    let areas = root.split_evenly((rows, cols));
    Ok((root, areas))
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart on `area` with a title and labelled axes when a font is available, a bare frame otherwise.
fn chart<'a, 'b>(
    path: &Path,
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
) -> Result<Chart<'a, 'b>> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if has_font() {
        builder.caption(title, (FAMILY, 18)).x_label_area_size(28).y_label_area_size(48);
    }
    let mut c = builder.build_cartesian_2d(x.0..x.1, y.0..y.1).map_err(|e| draw_error(path, e))?;
    if has_font() {
        c.configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .label_style((FAMILY, 12))
            .draw()
            .map_err(|e| draw_error(path, e))?;
    } else {
        c.draw_series(std::iter::once(Rectangle::new([(x.0, y.0), (x.1, y.1)], BLACK.stroke_width(1))))
            .map_err(|e| draw_error(path, e))?;
    }
    Ok(c)
}

/// Light-to-dark colour of a value in [0, 1] (pale yellow → dark blue), for the field background.
fn shade(s: f64) -> RGBColor {
    let s = s.clamp(0.0, 1.0);
    let lerp = |a: u8, b: u8| (a as f64 + s * (b as f64 - a as f64)).round() as u8;
    RGBColor(lerp(255, 60), lerp(250, 90), lerp(215, 170))
}

/// One PNG with a panel per grid: the field shaded from low (light) to high (dark), and `levels`
/// equally spaced level curves between its minimum and maximum.
pub fn level_curves(path: &Path, panels: &[(String, Grid)], levels: usize) -> Result<()> {
    if panels.is_empty() || levels == 0 {
        return Err(Error::invalid_argument("level_curves: need at least one panel and one level"));
    }
    let (root, areas) = panels_area(path, panels.len(), (520, 480))?;
    for ((title, grid), area) in panels.iter().zip(&areas) {
        let (nx, ny) = grid.values.dim();
        if nx < 2 || ny < 2 || grid.xs.len() != nx || grid.ys.len() != ny {
            return Err(Error::invalid_argument(format!("level_curves: panel '{title}' has an inconsistent grid")));
        }
        let (xr, yr) = ((grid.xs[0], grid.xs[nx - 1]), (grid.ys[0], grid.ys[ny - 1]));
        let mut c = chart(path, area, title, xr, yr)?;
        let (lo, hi) = grid.range();
        let scale = if hi > lo { hi - lo } else { 1.0 };
        let (hx, hy) = ((xr.1 - xr.0) / (nx - 1) as f64 / 2.0, (yr.1 - yr.0) / (ny - 1) as f64 / 2.0);
        let cells = (0..nx).flat_map(|i| (0..ny).map(move |j| (i, j))).map(|(i, j)| {
            let (x, y) = (grid.xs[i], grid.ys[j]);
            let colour = shade((grid.values[[i, j]] - lo) / scale);
            Rectangle::new(
                [((x - hx).max(xr.0), (y - hy).max(yr.0)), ((x + hx).min(xr.1), (y + hy).min(yr.1))],
                colour.filled(),
            )
        });
        c.draw_series(cells).map_err(|e| draw_error(path, e))?;
        for l in 1..=levels {
            let level = lo + scale * l as f64 / (levels + 1) as f64;
            let segments = level_set(grid, level);
            c.draw_series(segments.into_iter().map(|(a, b)| PathElement::new(vec![a, b], BLACK.stroke_width(1))))
                .map_err(|e| draw_error(path, e))?;
        }
    }
    root.present().map_err(|e| draw_error(path, e))
}

/// A named point cloud drawn in one colour (its first two columns).
#[derive(Debug, Clone)]
pub struct Cloud {
    pub points: Array2<f64>,
    pub colour: RGBColor,
}

/// One PNG with a panel per (title, clouds); all panels share the axes that fit every cloud.
pub fn scatter_panels(path: &Path, panels: &[(String, Vec<Cloud>)]) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::invalid_argument("scatter_panels: need at least one panel"));
    }
    let clouds = || panels.iter().flat_map(|(_, c)| c.iter());
    if let Some(c) = clouds().find(|c| c.points.ncols() < 2) {
        return Err(Error::invalid_argument(format!(
            "scatter_panels: points need 2 coordinates, got {}",
            c.points.ncols()
        )));
    }
    let x = span(clouds().flat_map(|c| c.points.column(0).to_vec()));
    let y = span(clouds().flat_map(|c| c.points.column(1).to_vec()));
    let (root, areas) = panels_area(path, panels.len(), (480, 480))?;
    for ((title, layer), area) in panels.iter().zip(&areas) {
        let mut c = chart(path, area, title, x, y)?;
        for cloud in layer {
            let style = cloud.colour.mix(0.55).filled();
            c.draw_series(cloud.points.rows().into_iter().map(|r| Circle::new((r[0], r[1]), 2, style)))
                .map_err(|e| draw_error(path, e))?;
        }
    }
    root.present().map_err(|e| draw_error(path, e))
}

/// A line series: its colour and (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub points: Vec<(f64, f64)>,
    pub colour: RGBColor,
}

/// One PNG with a panel per (title, series), each panel scaled to its own data.
pub fn line_panels(path: &Path, panels: &[(String, Vec<Series>)]) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::invalid_argument("line_panels: need at least one panel"));
    }
    let (root, areas) = panels_area(path, panels.len(), (520, 400))?;
    for ((title, series), area) in panels.iter().zip(&areas) {
        let x = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let y = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
        let mut c = chart(path, area, title, x, y)?;
        for s in series {
            let finite = s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite());
            c.draw_series(LineSeries::new(finite, s.colour.stroke_width(2))).map_err(|e| draw_error(path, e))?;
        }
    }
    root.present().map_err(|e| draw_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        (be(16), be(20))
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ijkonet-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn level_set_of_a_linear_field_is_exact() {
        // f = x + 2y is linear, so interpolation along edges is exact: every endpoint is on the line.
        let g = Grid::evaluate((-1.0, 1.0), (-1.0, 1.0), (9, 7), |p| {
            Ok(p.rows().into_iter().map(|r| r[0] + 2.0 * r[1]).collect())
        })
        .unwrap();
        let segs = level_set(&g, 0.3);
        // The line x + 2y = 0.3 crosses the square; each crossed cell contributes one segment.
        assert!(segs.len() >= 6, "{} segments", segs.len());
        for (a, b) in segs {
            for p in [a, b] {
                assert!((p.0 + 2.0 * p.1 - 0.3).abs() < 1e-12, "{p:?}");
            }
        }
    }

    #[test]
    fn level_set_of_a_paraboloid_is_a_circle() {
        let g = Grid::evaluate((-2.0, 2.0), (-2.0, 2.0), (81, 81), |p| {
            Ok(p.rows().into_iter().map(|r| r[0] * r[0] + r[1] * r[1]).collect())
        })
        .unwrap();
        let segs = level_set(&g, 1.0);
        let mut angles = [false; 36];
        let mut length = 0.0;
        for (a, b) in &segs {
            for p in [a, b] {
                let r = (p.0 * p.0 + p.1 * p.1).sqrt();
                // Grid spacing 0.05: chordal interpolation error of r² is below h²/4 → |r − 1| < 1e-3.
                assert!((r - 1.0).abs() < 2e-3, "point {p:?} at radius {r}");
                let bin = ((p.1.atan2(p.0) + std::f64::consts::PI) / (2.0 * std::f64::consts::PI) * 36.0) as usize;
                angles[bin.min(35)] = true;
            }
            length += ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        }
        assert!(angles.iter().all(|&hit| hit), "the curve must go all the way round");
        assert!((length - 2.0 * std::f64::consts::PI).abs() < 0.01, "circumference {length}");
    }

    #[test]
    fn grid_rejects_bad_boxes_and_non_finite_values() {
        assert!(Grid::evaluate((1.0, 1.0), (0.0, 1.0), (3, 3), |p| Ok(vec![0.0; p.nrows()])).is_err());
        assert!(Grid::evaluate((0.0, 1.0), (0.0, 1.0), (1, 3), |p| Ok(vec![0.0; p.nrows()])).is_err());
        let e = Grid::evaluate((0.0, 1.0), (0.0, 1.0), (3, 3), |p| Ok(vec![f64::NAN; p.nrows()])).unwrap_err();
        assert!(e.message().contains("non-finite"), "{e}");
    }

    #[test]
    fn figures_are_png_files_of_the_laid_out_size() {
        let g = Grid::evaluate((-1.0, 1.0), (-1.0, 1.0), (20, 20), |p| Ok(p.column(0).to_vec())).unwrap();
        let path = tmp("levels.png");
        level_curves(&path, &[("a".into(), g.clone()), ("b".into(), g)], 5).unwrap();
        assert_eq!(png_size(&path), (2 * 520, 480));

        let cloud = |c| Cloud { points: ndarray::array![[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]], colour: c };
        let panels: Vec<_> = (0..3).map(|k| (format!("step {k}"), vec![cloud(BLUE), cloud(RED)])).collect();
        let path = tmp("scatter.png");
        scatter_panels(&path, &panels).unwrap();
        assert_eq!(png_size(&path), (2 * 480, 2 * 480));

        let path = tmp("lines.png");
        let s = Series { points: vec![(1.0, 3.0), (2.0, 1.0), (3.0, f64::NAN)], colour: RED };
        line_panels(&path, &[("loss".into(), vec![s])]).unwrap();
        assert_eq!(png_size(&path), (520, 400));
        assert!(scatter_panels(&path, &[]).is_err());
    }
}

//! The 15 benchmark functions of the JKOnet* reference (`utils/functions.py`), used both as
//! potentials V and as interaction kernels W, with analytic gradients.
//!
//! The formulas are those the reference *code* computes (not its docstrings): holder_table is
//! +10|…| with the norm over all coordinates, zigzag uses cos(v), friedman rescales u = 2(v − 7)
//! internally, bohachevsky is ×10 without +0.7, relu is −50·max(v, 0), rotational is −500(θ + π).
//! Five functions (holder_table, ishigami, friedman, bohachevsky, rotational) reduce the input to
//! two half-means a = mean(v₁..v_h), b = mean(v_{h+1}..v_d) with h = ⌊d/2⌋; like the reference they
//! are NaN in 1-D, and [`Potential::check_dim`] rejects that case.
//!
//! Non-smooth points follow JAX's `grad` conventions where they are known: d|x|/dx = 1 at 0, and
//! flowers' gradient at the origin is (1, …, 1). Where JAX would return NaN or the convention is
//! unknown we choose a finite subgradient: relu' (0) = 0, the gradient of ‖v‖ at 0 is 0 (holder_table),
//! and rotational's gradient at its singular point (a, b) = (−5, −5) is 0.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2, ArrayView2};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// One of the 15 benchmark functions of the JKOnet* reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Potential {
    StyblinskiTang,
    HolderTable,
    ZigzagRidge,
    OakleyOhagan,
    Watershed,
    Ishigami,
    Friedman,
    Sphere,
    Bohachevsky,
    Flowers,
    WavyPlateau,
    DoubleExp,
    Relu,
    Rotational,
    Flat,
}

/// Sign with the JAX convention for d|x|/dx: +1 at 0.
fn abs_derivative(x: f64) -> f64 {
    if x < 0.0 {
        -1.0
    } else {
        1.0
    }
}

/// Half-means (a, b) of the first ⌊d/2⌋ and the remaining coordinates; a is NaN for d = 1.
fn half_means(x: &[f64]) -> (f64, f64) {
    let h = x.len() / 2;
    let (first, second) = x.split_at(h);
    let a = first.iter().sum::<f64>() / first.len() as f64;
    let b = second.iter().sum::<f64>() / second.len() as f64;
    (a, b)
}

/// Spread dV/da and dV/db back onto the coordinates (chain rule through the half-means).
fn spread_half_means(d_da: f64, d_db: f64, out: &mut [f64]) {
    let d = out.len();
    let h = d / 2;
    let (first, second) = out.split_at_mut(h);
    first.fill(d_da / h as f64);
    second.fill(d_db / (d - h) as f64);
}

impl Potential {
    /// All 15 functions, in the reference's order.
    pub const ALL: [Potential; 15] = [
        Potential::StyblinskiTang,
        Potential::HolderTable,
        Potential::ZigzagRidge,
        Potential::OakleyOhagan,
        Potential::Watershed,
        Potential::Ishigami,
        Potential::Friedman,
        Potential::Sphere,
        Potential::Bohachevsky,
        Potential::Flowers,
        Potential::WavyPlateau,
        Potential::DoubleExp,
        Potential::Relu,
        Potential::Rotational,
        Potential::Flat,
    ];

    /// The reference's key for this function (e.g. `"wavy_plateau"`).
    pub fn name(&self) -> &'static str {
        match self {
            Potential::StyblinskiTang => "styblinski_tang",
            Potential::HolderTable => "holder_table",
            Potential::ZigzagRidge => "zigzag_ridge",
            Potential::OakleyOhagan => "oakley_ohagan",
            Potential::Watershed => "watershed",
            Potential::Ishigami => "ishigami",
            Potential::Friedman => "friedman",
            Potential::Sphere => "sphere",
            Potential::Bohachevsky => "bohachevsky",
            Potential::Flowers => "flowers",
            Potential::WavyPlateau => "wavy_plateau",
            Potential::DoubleExp => "double_exp",
            Potential::Relu => "relu",
            Potential::Rotational => "rotational",
            Potential::Flat => "flat",
        }
    }

    /// Whether the function reduces its input to two half-means (undefined for d = 1).
    pub fn uses_half_means(&self) -> bool {
        matches!(
            self,
            Potential::HolderTable
                | Potential::Ishigami
                | Potential::Friedman
                | Potential::Bohachevsky
                | Potential::Rotational
        )
    }

    /// Whether the function is even, W(−z) = W(z), so its gradient is odd everywhere (including at
    /// 0, where it is 0) and symmetrising it as an interaction kernel changes nothing.
    pub fn has_odd_gradient(&self) -> bool {
        // holder_table is even too, but its |·| kinks break oddness of the JAX-convention gradient
        // at some points (at z = 0 its gradient is nonzero), so it is left out.
        matches!(
            self,
            Potential::Sphere
                | Potential::WavyPlateau
                | Potential::DoubleExp
                | Potential::Bohachevsky
                | Potential::Flat
        )
    }

    /// Check that the function is defined in dimension `d` (d ≥ 1; d ≥ 2 for the half-mean ones).
    pub fn check_dim(&self, d: usize) -> Result<()> {
        if d == 0 {
            return Err(Error::invalid_argument(format!("potential {}: dimension must be at least 1", self.name())));
        }
        if d == 1 && self.uses_half_means() {
            return Err(Error::invalid_argument(format!(
                "potential {} averages the two halves of the coordinates and is undefined (NaN) in \
                 dimension 1; use dimension ≥ 2",
                self.name()
            )));
        }
        Ok(())
    }

    /// The function's value at one point `x` (any dimension; NaN in 1-D for half-mean functions).
    pub fn value(&self, x: &[f64]) -> f64 {
        match self {
            Potential::StyblinskiTang => 0.5 * x.iter().map(|&v| v.powi(4) - 16.0 * v * v + 5.0 * v).sum::<f64>(),
            Potential::HolderTable => {
                let (a, b) = half_means(x);
                let r = norm(x);
                10.0 * (a.sin() * b.cos() * (1.0 - r / PI).abs().exp()).abs()
            }
            Potential::ZigzagRidge => x
                .windows(2)
                .map(|w| {
                    let (u, v) = (w[0], w[1]);
                    (u - v).powi(2) + u.cos() * (u + v) + u * u * v
                })
                .sum(),
            Potential::OakleyOhagan => 5.0 * x.iter().map(|&v| v.sin() + v.cos() + v * v + v).sum::<f64>(),
            Potential::Watershed => 0.1 * x.windows(2).map(|w| w[0] + w[0] * w[0] * (w[1] + 4.0)).sum::<f64>(),
            Potential::Ishigami => {
                let (p, q) = half_means(x);
                let r = 0.5 * (p + q);
                p.sin() + 7.0 * q.sin().powi(2) + 0.1 * r.powi(4) * p.sin()
            }
            Potential::Friedman => {
                let (p, q) = friedman_pq(x);
                friedman_value(p, q)
            }
            Potential::Sphere => -10.0 * x.iter().map(|&v| v * v).sum::<f64>(),
            Potential::Bohachevsky => {
                let (a, b) = half_means(x);
                10.0 * (a * a + 2.0 * b * b - 0.3 * (3.0 * PI * a).cos() - 0.4 * (4.0 * PI * b).cos())
            }
            Potential::Flowers => x.iter().map(|&v| v + 2.0 * v.abs().powf(1.2).sin()).sum(),
            Potential::WavyPlateau => x.iter().map(|&v| (PI * v).cos() + 0.5 * v.powi(4) - 3.0 * v * v + 1.0).sum(),
            Potential::DoubleExp => {
                let (e_plus, e_minus) = double_exp_terms(x);
                200.0 * (e_plus + e_minus)
            }
            Potential::Relu => -50.0 * x.iter().map(|&v| v.max(0.0)).sum::<f64>(),
            Potential::Rotational => {
                let (a, b) = half_means(x);
                -500.0 * ((b + 5.0).atan2(a + 5.0) + PI)
            }
            Potential::Flat => 0.0,
        }
    }

    /// Write the analytic gradient at `x` into `out`. `out` must have `x.len()` entries; if it does
    /// not, `out` is filled with NaN (a caller bug made visible without panicking).
    pub fn gradient(&self, x: &[f64], out: &mut [f64]) {
        if out.len() != x.len() {
            out.fill(f64::NAN);
            return;
        }
        match self {
            Potential::StyblinskiTang => {
                for (g, &v) in out.iter_mut().zip(x) {
                    *g = 0.5 * (4.0 * v.powi(3) - 32.0 * v + 5.0);
                }
            }
            Potential::HolderTable => holder_table_gradient(x, out),
            Potential::ZigzagRidge => {
                out.fill(0.0);
                for i in 0..x.len().saturating_sub(1) {
                    let (u, v) = (x[i], x[i + 1]);
                    out[i] += 2.0 * (u - v) - u.sin() * (u + v) + u.cos() + 2.0 * u * v;
                    out[i + 1] += -2.0 * (u - v) + u.cos() + u * u;
                }
            }
            Potential::OakleyOhagan => {
                for (g, &v) in out.iter_mut().zip(x) {
                    *g = 5.0 * (v.cos() - v.sin() + 2.0 * v + 1.0);
                }
            }
            Potential::Watershed => {
                out.fill(0.0);
                for i in 0..x.len().saturating_sub(1) {
                    let (u, v) = (x[i], x[i + 1]);
                    out[i] += 0.1 * (1.0 + 2.0 * u * (v + 4.0));
                    out[i + 1] += 0.1 * u * u;
                }
            }
            Potential::Ishigami => {
                let (p, q) = half_means(x);
                let r = 0.5 * (p + q);
                // d(0.1 r⁴ sin p) contributes 0.2 r³ sin p to both dV/dp and dV/dq (dr = (dp + dq)/2).
                let cross = 0.2 * r.powi(3) * p.sin();
                let d_dp = p.cos() * (1.0 + 0.1 * r.powi(4)) + cross;
                let d_dq = 14.0 * q.sin() * q.cos() + cross;
                spread_half_means(d_dp, d_dq, out);
            }
            Potential::Friedman => {
                let (p, q) = friedman_pq(x);
                let (d_dp, d_dq) = friedman_partials(p, q);
                // p = 2(a − 7) and q = b − 7, so dp/da = 2 and dq/db = 1.
                spread_half_means(2.0 * d_dp, d_dq, out);
            }
            Potential::Sphere => {
                for (g, &v) in out.iter_mut().zip(x) {
                    *g = -20.0 * v;
                }
            }
            Potential::Bohachevsky => {
                let (a, b) = half_means(x);
                let d_da = 10.0 * (2.0 * a + 0.9 * PI * (3.0 * PI * a).sin());
                let d_db = 10.0 * (4.0 * b + 1.6 * PI * (4.0 * PI * b).sin());
                spread_half_means(d_da, d_db, out);
            }
            Potential::Flowers => {
                for (g, &v) in out.iter_mut().zip(x) {
                    let m = v.abs();
                    // d/dv sin(|v|^1.2) = cos(|v|^1.2) · 1.2 |v|^0.2 · sign(v), which is 0 at v = 0.
                    // One powf: |v|^1.2 = |v| · |v|^0.2.
                    let m_02 = m.powf(0.2);
                    *g = 1.0 + 2.4 * (m * m_02).cos() * m_02 * abs_derivative(v);
                }
            }
            Potential::WavyPlateau => {
                for (g, &v) in out.iter_mut().zip(x) {
                    *g = -PI * (PI * v).sin() + 2.0 * v.powi(3) - 6.0 * v;
                }
            }
            Potential::DoubleExp => {
                let (e_plus, e_minus) = double_exp_terms(x);
                // ∇ 200 exp(−|v ∓ 3|²/20) = −20 (v ∓ 3) exp(…).
                for (g, &v) in out.iter_mut().zip(x) {
                    *g = -20.0 * (e_plus * (v - 3.0) + e_minus * (v + 3.0));
                }
            }
            Potential::Relu => {
                for (g, &v) in out.iter_mut().zip(x) {
                    *g = if v > 0.0 { -50.0 } else { 0.0 };
                }
            }
            Potential::Rotational => {
                let (a, b) = half_means(x);
                let (s, t) = (a + 5.0, b + 5.0);
                let r2 = s * s + t * t;
                // V = −500 atan2(t, s) − 500π; dθ/ds = −t/r², dθ/dt = s/r².
                let (d_da, d_db) = if r2 > 0.0 { (500.0 * t / r2, -500.0 * s / r2) } else { (0.0, 0.0) };
                spread_half_means(d_da, d_db, out);
            }
            Potential::Flat => out.fill(0.0),
        }
    }

    /// Values at each row of an n × d matrix.
    pub fn values(&self, x: ArrayView2<f64>) -> Array1<f64> {
        let mut buf = vec![0.0; x.ncols()];
        x.rows()
            .into_iter()
            .map(|row| match row.as_slice() {
                Some(s) => self.value(s),
                None => {
                    buf.iter_mut().zip(row.iter()).for_each(|(b, &v)| *b = v);
                    self.value(&buf)
                }
            })
            .collect()
    }

    /// Gradients at each row of an n × d matrix, as an n × d matrix.
    pub fn gradients(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = Array2::zeros(x.raw_dim());
        let mut buf = vec![0.0; x.ncols()];
        for (row, mut g) in x.rows().into_iter().zip(out.rows_mut()) {
            let g = g.as_slice_mut().expect("rows of a fresh standard-layout array are contiguous");
            match row.as_slice() {
                Some(s) => self.gradient(s, g),
                None => {
                    buf.iter_mut().zip(row.iter()).for_each(|(b, &v)| *b = v);
                    self.gradient(&buf, g);
                }
            }
        }
        out
    }
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|&v| v * v).sum::<f64>().sqrt()
}

fn holder_table_gradient(x: &[f64], out: &mut [f64]) {
    let (a, b) = half_means(x);
    let r = norm(x);
    let u = 1.0 - r / PI;
    let e = u.abs().exp();
    let (sa, ca, sb, cb) = (a.sin(), a.cos(), b.sin(), b.cos());
    let g = sa * cb * e;
    let outer = 10.0 * abs_derivative(g);
    // dV = outer · (cos a cos b E da − sin a sin b E db + sin a cos b dE), dE = −E sign(u) v/(π r) dv.
    spread_half_means(outer * ca * cb * e, -outer * sa * sb * e, out);
    if r > 0.0 {
        let radial = -outer * g * abs_derivative(u) / (PI * r);
        for (o, &v) in out.iter_mut().zip(x) {
            *o += radial * v;
        }
    }
}

/// The two exponential bumps exp(−|v − 3·1|²/20) and exp(−|v + 3·1|²/20).
fn double_exp_terms(x: &[f64]) -> (f64, f64) {
    let plus: f64 = x.iter().map(|&v| (v - 3.0) * (v - 3.0)).sum();
    let minus: f64 = x.iter().map(|&v| (v + 3.0) * (v + 3.0)).sum();
    ((-plus / 20.0).exp(), (-minus / 20.0).exp())
}

/// Friedman's internal coordinates: with u = 2(v − 7), p = mean(u_first) and q = mean(u_second)/2.
fn friedman_pq(x: &[f64]) -> (f64, f64) {
    let (a, b) = half_means(x);
    (2.0 * (a - 7.0), b - 7.0)
}

fn friedman_value(p: f64, q: f64) -> f64 {
    (10.0 * (PI * p * q).sin()
        + 20.0 * (p * q.sin() - 0.5).powi(2)
        + 10.0 * (p * q.cos() - 1.0).powi(2)
        + 0.1 * q * p.sin())
        / 100.0
}

fn friedman_partials(p: f64, q: f64) -> (f64, f64) {
    let (sq, cq) = q.sin_cos();
    let c = (PI * p * q).cos();
    let s_term = p * sq - 0.5;
    let c_term = p * cq - 1.0;
    let d_dp = 10.0 * PI * q * c + 40.0 * s_term * sq + 20.0 * c_term * cq + 0.1 * q * p.cos();
    let d_dq = 10.0 * PI * p * c + 40.0 * s_term * p * cq - 20.0 * c_term * p * sq + 0.1 * p.sin();
    (d_dp / 100.0, d_dq / 100.0)
}

impl fmt::Display for Potential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Potential {
    type Err = Error;

    /// Parse a reference key (`"wavy_plateau"`, …); the error lists the valid keys.
    fn from_str(s: &str) -> Result<Self> {
        Potential::ALL.iter().copied().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Potential::ALL.iter().map(|p| p.name()).collect();
            Error::invalid_argument(format!("unknown potential '{s}'; valid names: {}", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const P2: [f64; 2] = [0.5, -1.2];
    const P3: [f64; 3] = [0.3, -0.7, 1.1];
    const P4: [f64; 4] = [1.0, 2.0, -0.5, 0.25];

    /// One row of the golden table (jkonet_star.md §1.1): value and gradient at p2, p3, p4, as printed.
    struct Golden {
        potential: Potential,
        at: [(&'static str, &'static [&'static str]); 3],
    }

    fn golden_table() -> Vec<Golden> {
        use Potential::*;
        vec![
            Golden {
                potential: StyblinskiTang,
                at: [
                    ("-14.20195", &["-5.25", "18.244"]),
                    ("-11.71385", &["-2.246", "13.014", "-12.438"]),
                    ("-27.09179688", &["-11.5", "-13.5", "10.25", "-1.46875"]),
                ],
            },
            Golden {
                potential: HolderTable,
                at: [
                    ("3.122057599", &["5.3326643332", "8.9477425639"]),
                    ("5.142619879", &["16.2576385833", "0.3352276822", "-1.8670929184"]),
                    ("12.91740943", &["-1.3259048627", "-3.1098277648", "1.7035308742", "0.3655886976"]),
                ],
            },
            Golden {
                potential: ZigzagRidge,
                at: [
                    ("1.975692207", &["3.4131804389", "-2.2724174381"]),
                    ("4.639802279", &["2.6535445718", "-5.0721342487", "4.8548421873"]),
                    ("8.652291022", &["0.0158893514", "4.7602093291", "-2.4084206593", "2.6275825619"]),
                ],
            },
            Golden {
                potential: OakleyOhagan,
                at: [
                    ("8.886633845", &["11.9907851164", "-0.5280157978"]),
                    ("26.03142339", &["11.2990814123", "5.0452993726", "13.8119438068"]),
                    ("57.75948643", &["13.4941566053", "18.3727786831", "6.7850405025", "11.1075423123"]),
                ],
            },
            Golden {
                potential: Watershed,
                at: [
                    ("0.12", &["0.38", "0.025"]),
                    ("0.2396", &["0.298", "-0.605", "0.049"]),
                    ("2.35625", &["1.3", "1.6", "0.075", "0.025"]),
                ],
            },
            Golden {
                potential: Ishigami,
                at: [
                    ("6.561022981", &["0.8747884102", "-4.7323533379"]),
                    ("0.5719221652", &["0.9566331681", "1.3634259484", "1.3634259484"]),
                    ("1.128585941", &["0.0685724658", "0.0685724658", "-0.8335001409", "-0.8335001409"]),
                ],
            },
            Golden {
                potential: Friedman,
                at: [
                    ("28.7769092", &["-7.7126716058", "13.6097267486"]),
                    ("23.46390515", &["-2.8553573724", "-3.9297645192", "-3.9297645192"]),
                    ("18.89102152", &["-4.2645289292", "-4.2645289292", "-5.1190982511", "-5.1190982511"]),
                ],
            },
            Golden {
                potential: Sphere,
                at: [
                    ("-16.9", &["-10", "24"]),
                    ("-17.9", &["-6", "14", "-22"]),
                    ("-53.125", &["-20", "-40", "10", "-5"]),
                ],
            },
            Golden {
                potential: Bohachevsky,
                at: [
                    ("34.53606798", &["-18.2743338823", "-77.5453092878"]),
                    ("7.789237526", &["14.7372496743", "18.7726546439", "18.7726546439"]),
                    ("22.8125", &["29.1371669412", "29.1371669412", "-27.6327412287", "-27.6327412287"]),
                ],
            },
            Golden {
                potential: Flowers,
                at: [
                    ("2.037833567", &["2.894500496", "0.2022946056"]),
                    ("4.181706847", &["2.834205871", "-0.7766120857", "2.0631855916"]),
                    ("7.147802564", &["2.2967255341", "-0.8314823015", "-0.894500496", "2.7863117732"]),
                ],
            },
            Golden {
                potential: WavyPlateau,
                at: [
                    ("-2.810966994", &["-5.8915926536", "1.8974181695"]),
                    ("-2.464906516", &["-4.2876018462", "6.0556018462", "-2.9671944806"]),
                    ("-2.697190094", &["-4", "4", "5.8915926536", "-3.6901914691"]),
                ],
            },
            Golden {
                potential: DoubleExp,
                at: [
                    ("152.7579069", &["-17.1226261339", "8.8462180388"]),
                    ("96.91694362", &["3.110059867", "12.801754229", "-4.6432956225"]),
                    ("68.94897953", &["7.124817306", "0.2299193531", "17.4671642352", "12.2959907706"]),
                ],
            },
            Golden {
                potential: Relu,
                at: [("-25", &["-50", "0"]), ("-70", &["-50", "0", "-50"]), ("-162.5", &["-50", "-50", "0", "-50"])],
            },
            Golden {
                potential: Rotational,
                at: [
                    ("-1873.095622", &["42.5151040501", "-61.5350190199"]),
                    ("-1958.733648", &["47.1612552149", "-24.0341012153", "-24.0341012153"]),
                    ("-1892.546881", &["18.4615384615", "18.4615384615", "-24.6153846154", "-24.6153846154"]),
                ],
            },
            Golden { potential: Flat, at: [("0", &["0", "0"]), ("0", &["0", "0", "0"]), ("0", &["0", "0", "0", "0"])] },
        ]
    }

    /// Parse a printed golden number and decide its tolerance: relative 1e-8 when it shows ≥ 9
    /// significant digits, otherwise half a unit in its last printed decimal.
    fn golden(text: &str) -> (f64, f64) {
        let value: f64 = text.parse().expect("golden literal");
        let digits = text.trim_start_matches('-');
        let decimals = digits.split_once('.').map_or(0, |(_, frac)| frac.len());
        let significant = digits.chars().filter(|c| c.is_ascii_digit()).skip_while(|&c| c == '0').count();
        let tol = if significant >= 9 { 1e-8 * value.abs() } else { 0.5 * 10f64.powi(-(decimals as i32)) };
        (value, tol)
    }

    #[test]
    fn golden_table_values_and_gradients() {
        let table = golden_table();
        assert_eq!(table.len(), 15, "every potential has a golden row");
        for row in &table {
            let p = row.potential;
            for (point, (value_text, grad_texts)) in [&P2[..], &P3[..], &P4[..]].iter().zip(row.at.iter()) {
                let (want, tol) = golden(value_text);
                let got = p.value(point);
                assert!((got - want).abs() <= tol, "{p} value at {point:?}: got {got}, want {want} ± {tol}");
                let mut grad = vec![0.0; point.len()];
                p.gradient(point, &mut grad);
                assert_eq!(grad_texts.len(), point.len());
                for (i, text) in grad_texts.iter().enumerate() {
                    let (want, tol) = golden(text);
                    assert!(
                        (grad[i] - want).abs() <= tol,
                        "{p} ∂{i} at {point:?}: got {}, want {want} ± {tol}",
                        grad[i]
                    );
                }
            }
        }
    }

    /// Whether x is within `margin` of a point where p is not differentiable.
    fn near_kink(p: Potential, x: &[f64], margin: f64) -> bool {
        match p {
            Potential::Relu | Potential::Flowers => x.iter().any(|v| v.abs() < margin),
            Potential::HolderTable => {
                let (a, b) = half_means(x);
                let r = norm(x);
                a.sin().abs() < margin || b.cos().abs() < margin || (1.0 - r / PI).abs() < margin
            }
            _ => false,
        }
    }

    #[test]
    fn gradients_match_central_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let h = 1e-5;
        for p in Potential::ALL {
            for d in [2usize, 3, 5] {
                let mut checked = 0;
                while checked < 4 {
                    let x: Vec<f64> = (0..d).map(|_| rng.random_range(-3.5..3.5)).collect();
                    if near_kink(p, &x, 1e-2) {
                        continue;
                    }
                    checked += 1;
                    let mut grad = vec![0.0; d];
                    p.gradient(&x, &mut grad);
                    let scale = 1.0 + p.value(&x).abs();
                    for i in 0..d {
                        let (mut up, mut down) = (x.clone(), x.clone());
                        up[i] += h;
                        down[i] -= h;
                        let fd = (p.value(&up) - p.value(&down)) / (2.0 * h);
                        let tol = 1e-6 * (scale + grad[i].abs());
                        assert!(
                            (fd - grad[i]).abs() <= tol,
                            "{p} d={d} ∂{i} at {x:?}: analytic {}, central difference {fd}",
                            grad[i]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn jax_conventions_at_kinks() {
        // flowers' gradient at the origin is (1, 1) in the reference.
        let mut g = [9.0; 2];
        Potential::Flowers.gradient(&[0.0, 0.0], &mut g);
        assert_eq!(g, [1.0, 1.0]);
        // holder_table at a = 0 (so g = 0): d|g| = +dg, so the gradient is 10·cos b·E/h along a's
        // coordinates, not 0 and not its negative.
        let x = [0.0, 1.0];
        Potential::HolderTable.gradient(&x, &mut g);
        let e = (1.0 - 1.0 / PI).abs().exp();
        assert!((g[0] - 10.0 * 1f64.cos() * e).abs() < 1e-12, "{g:?}");
        assert!(g[1].abs() < 1e-12, "{g:?}");
        // The gradient of a constant is zero.
        Potential::Flat.gradient(&[3.0, -1.0], &mut g);
        assert_eq!(g, [0.0, 0.0]);
    }

    #[test]
    fn odd_gradient_flag_is_truthful() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut g, mut g_neg) = (vec![0.0; 3], vec![0.0; 3]);
        for p in Potential::ALL.into_iter().filter(|p| p.has_odd_gradient()) {
            p.gradient(&[0.0; 3], &mut g);
            assert_eq!(g, vec![0.0; 3], "{p} at 0");
            for _ in 0..20 {
                let z: Vec<f64> = (0..3).map(|_| rng.random_range(-4.0..4.0)).collect();
                let neg: Vec<f64> = z.iter().map(|v| -v).collect();
                p.gradient(&z, &mut g);
                p.gradient(&neg, &mut g_neg);
                for k in 0..3 {
                    assert!((g[k] + g_neg[k]).abs() <= 1e-12 * (1.0 + g[k].abs()), "{p} at {z:?}");
                }
            }
        }
        // A non-even kernel must not be flagged: oakley_ohagan's gradient at 0 is 10 per coordinate.
        assert!(!Potential::OakleyOhagan.has_odd_gradient());
        Potential::OakleyOhagan.gradient(&[0.0; 3], &mut g);
        assert_eq!(g, vec![10.0; 3]);
    }

    #[test]
    fn names_round_trip_and_unknown_name_lists_valid_ones() {
        for p in Potential::ALL {
            assert_eq!(p.name().parse::<Potential>().unwrap(), p);
        }
        let distinct: std::collections::HashSet<_> = Potential::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(distinct.len(), 15);
        let err = "wavy".parse::<Potential>().unwrap_err();
        assert!(err.message().contains("wavy_plateau") && err.message().contains("'wavy'"), "{err}");
    }

    #[test]
    fn half_mean_functions_reject_dimension_one() {
        for p in Potential::ALL {
            assert!(p.check_dim(0).is_err());
            assert!(p.check_dim(2).is_ok());
            assert_eq!(p.check_dim(1).is_err(), p.uses_half_means(), "{p}");
            if p.uses_half_means() {
                // Like the reference, the raw function is NaN in 1-D: check_dim is what guards it.
                assert!(p.value(&[0.3]).is_nan(), "{p}");
            } else {
                assert!(p.value(&[0.3]).is_finite(), "{p}");
            }
        }
    }

    #[test]
    fn vectorised_helpers_match_pointwise_including_strided_rows() {
        let x = array![[0.5, -1.2, 0.1], [0.3, -0.7, 1.1], [1.0, 2.0, -0.5]];
        // A transposed view has non-contiguous rows, exercising the copy path.
        let xt = x.t();
        for p in Potential::ALL {
            for view in [x.view(), xt] {
                let values = p.values(view);
                let grads = p.gradients(view);
                for (i, row) in view.rows().into_iter().enumerate() {
                    let r: Vec<f64> = row.to_vec();
                    assert_eq!(values[i].to_bits(), p.value(&r).to_bits());
                    let mut g = vec![0.0; 3];
                    p.gradient(&r, &mut g);
                    assert_eq!(grads.row(i).to_vec(), g);
                }
            }
        }
    }

    #[test]
    fn mismatched_output_length_poisons_instead_of_panicking() {
        let mut g = [0.0; 3];
        Potential::Sphere.gradient(&[1.0, 2.0], &mut g);
        assert!(g.iter().all(|v| v.is_nan()));
    }
}

//! 2-D toy datasets of Flows for Flows (`flows.md` §11.8): seeded generators of point clouds
//! **without an energy** (they are data, not `Target`s), and the conditional wrappers (rotation,
//! radial scale, per-axis stretch) that attach a condition c to every point.
//!
//! | name | generator |
//! |---|---|
//! | `four-circles` | 4 circles of radius 2 centred at (±1, ±1): `2(cos 2πu, sin 2πu) + 0.1·N(0, I) + centre` |
//! | `checkerboard` | `x1 ~ U(−2, 2)`; `x2 = U(0, 1) − 2·Bernoulli(½) + (⌊x1⌋ mod 2)`; output `2·(x1, x2)` |
//! | `star` / `eight-star` | bar `2·(u + 0.3, 0) + 0.1·N(0, I)`, u ~ U(0, 1), rotated by 2πk/n_bars (4 or 8 bars) |
//! | `concentric-rings` | `0.4k·[2(cos 2πu, sin 2πu) + 0.1·N(0, I)]`, k = 1..4 |
//! | `ring` | `r(cos 2πu, sin 2πu) + 0.15·r·N(0, I)`, r = 2.25 |
//! | `annulus` | as `ring` with r ~ U(1, 2) per point |
//! | `two-spirals` | `n = √U·3π`, `d = (−n cos n + U(0, ½), n sin n + U(0, ½))`; points ±d; output `d/3 + 0.1·N(0, I)` |
//!
//! Mixture components are assigned by row index (row i belongs to component i mod k), so every
//! prefix of a draw is balanced. All randomness comes from the generator passed in.
//!
//! ```
//! use rand::SeedableRng;
//! use trade_targets::toy2d::{Toy2d, rotated};
//! let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
//! let x = Toy2d::FourCircles.sample(1000, &mut rng);
//! assert_eq!(x.dim(), (1000, 2));
//! let (xr, c) = rotated(Toy2d::Star, 1000, &mut rng); // c = α/45, α ∈ {0, …, 44} degrees
//! assert!(c.iter().all(|&c| (0.0..1.0).contains(&c)) && xr.nrows() == 1000);
//! assert_eq!(Toy2d::from_name("checkerboard")?, Toy2d::Checkerboard);
//! # Ok::<(), trade_targets::TargetError>(())
//! ```

use crate::{ReferenceSampler, TargetError};
use ndarray::{Array1, Array2};
use rand::{Rng, RngCore};
use rand_distr::{Distribution as _, StandardNormal};
use std::f64::consts::PI;

/// One 2-D toy dataset of `flows.md` §11.8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toy2d {
    /// Four circles of radius 2 centred at (±1, ±1).
    FourCircles,
    /// A 4 × 4 checkerboard on [−4, 4]².
    Checkerboard,
    /// Four bars from radius 0.6 to 2.6 at angles 0, 90, 180, 270 degrees.
    Star,
    /// As `Star` with eight bars.
    EightStar,
    /// Four concentric rings of radii 0.8, 1.6, 2.4, 3.2.
    ConcentricRings,
    /// One ring of radius 2.25.
    Ring,
    /// An annulus with radii uniform in [1, 2].
    Annulus,
    /// Two interleaved spirals.
    TwoSpirals,
}

/// Every dataset, in the order of the spec's table.
pub const TOY2D_ALL: [Toy2d; 8] = [
    Toy2d::FourCircles,
    Toy2d::Checkerboard,
    Toy2d::Star,
    Toy2d::EightStar,
    Toy2d::ConcentricRings,
    Toy2d::Ring,
    Toy2d::Annulus,
    Toy2d::TwoSpirals,
];

fn normal(rng: &mut dyn RngCore) -> f64 {
    StandardNormal.sample(rng)
}

fn unit(rng: &mut dyn RngCore) -> f64 {
    rng.random::<f64>()
}

impl Toy2d {
    /// The command-line name (`four-circles`, `checkerboard`, `star`, …).
    pub fn name(self) -> &'static str {
        match self {
            Toy2d::FourCircles => "four-circles",
            Toy2d::Checkerboard => "checkerboard",
            Toy2d::Star => "star",
            Toy2d::EightStar => "eight-star",
            Toy2d::ConcentricRings => "concentric-rings",
            Toy2d::Ring => "ring",
            Toy2d::Annulus => "annulus",
            Toy2d::TwoSpirals => "two-spirals",
        }
    }

    /// The dataset called `name`; the error lists the allowed names.
    pub fn from_name(name: &str) -> Result<Self, TargetError> {
        TOY2D_ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| TargetError::InvalidParameter {
                field: "toy2d dataset",
                value: name.into(),
                allowed: TOY2D_ALL.map(Toy2d::name).join(", "),
            })
    }

    /// `n` points as an (n, 2) array.
    pub fn sample(self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        let mut out = Array2::zeros((n, 2));
        for (i, mut row) in out.rows_mut().into_iter().enumerate() {
            let [a, b] = self.point(i, rng);
            row[0] = a;
            row[1] = b;
        }
        out
    }

    /// Row `i` of a draw (the mixture component is fixed by `i`).
    fn point(self, i: usize, rng: &mut dyn RngCore) -> [f64; 2] {
        let circle = |rng: &mut dyn RngCore, r: f64| {
            let a = 2.0 * PI * unit(rng);
            [
                r * a.cos() + 0.1 * normal(rng),
                r * a.sin() + 0.1 * normal(rng),
            ]
        };
        match self {
            Toy2d::FourCircles => {
                let [a, b] = circle(rng, 2.0);
                let (sx, sy) = [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)][i % 4];
                [a + sx, b + sy]
            }
            Toy2d::Checkerboard => {
                let x1 = 4.0 * unit(rng) - 2.0;
                let flip = if rng.random::<bool>() { 2.0 } else { 0.0 };
                let x2 = unit(rng) - flip + x1.floor().rem_euclid(2.0);
                [2.0 * x1, 2.0 * x2]
            }
            Toy2d::Star => bar(rng, i % 4, 4),
            Toy2d::EightStar => bar(rng, i % 8, 8),
            Toy2d::ConcentricRings => {
                let k = (i % 4 + 1) as f64;
                let [a, b] = circle(rng, 2.0);
                [0.4 * k * a, 0.4 * k * b]
            }
            Toy2d::Ring => ring(rng, 2.25),
            Toy2d::Annulus => {
                let r = 1.0 + unit(rng);
                ring(rng, r)
            }
            Toy2d::TwoSpirals => {
                let n = unit(rng).sqrt() * 3.0 * PI;
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                let d1 = -n * n.cos() + 0.5 * unit(rng);
                let d2 = n * n.sin() + 0.5 * unit(rng);
                [
                    sign * d1 / 3.0 + 0.1 * normal(rng),
                    sign * d2 / 3.0 + 0.1 * normal(rng),
                ]
            }
        }
    }
}

/// Bar k of `n_bars`: `2·(u + 0.3, 0) + 0.1·N(0, I)` rotated by 2πk/n_bars.
fn bar(rng: &mut dyn RngCore, k: usize, n_bars: usize) -> [f64; 2] {
    let a = 2.0 * (unit(rng) + 0.3) + 0.1 * normal(rng);
    let b = 0.1 * normal(rng);
    rotate([a, b], 2.0 * PI * k as f64 / n_bars as f64)
}

/// `r(cos 2πu, sin 2πu) + 0.15·r·N(0, I)`.
fn ring(rng: &mut dyn RngCore, r: f64) -> [f64; 2] {
    let a = 2.0 * PI * unit(rng);
    [
        r * a.cos() + 0.15 * r * normal(rng),
        r * a.sin() + 0.15 * r * normal(rng),
    ]
}

/// The point rotated counter-clockwise by `angle` radians.
pub fn rotate([a, b]: [f64; 2], angle: f64) -> [f64; 2] {
    let (s, c) = angle.sin_cos();
    [c * a - s * b, s * a + c * b]
}

impl ReferenceSampler for Toy2d {
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        Toy2d::sample(*self, n, rng)
    }
}

/// Scale applied after the rotation wrapper's rotation (keeps the data in about [−4, 4]²).
pub const ROTATION_SCALE: f64 = std::f64::consts::FRAC_1_SQRT_2; // 4/√32 = 1/√2

/// Rotation wrapper: α uniform over the integers 0…44 degrees, the points rotated by α and
/// scaled by 4/√32, c = α/45. Returns the points (n, 2) and c (n,).
pub fn rotated(dataset: Toy2d, n: usize, rng: &mut dyn RngCore) -> (Array2<f64>, Array1<f64>) {
    let mut x = dataset.sample(n, rng);
    let mut c = Array1::zeros(n);
    for (mut row, c) in x.rows_mut().into_iter().zip(c.iter_mut()) {
        let alpha = rng.random_range(0..45u32) as f64;
        *c = alpha / 45.0;
        let [a, b] = rotate([row[0], row[1]], alpha.to_radians());
        row[0] = ROTATION_SCALE * a;
        row[1] = ROTATION_SCALE * b;
    }
    (x, c)
}

/// The rotation wrapper's map at condition c (in [0, 1)): rotate by 45c degrees, scale by 4/√32.
pub fn rotate_to(x: [f64; 2], c: f64) -> [f64; 2] {
    let [a, b] = rotate(x, (45.0 * c).to_radians());
    [ROTATION_SCALE * a, ROTATION_SCALE * b]
}

/// Radial-scale wrapper: `s = 0.5 + 0.5√u`, points × s, c = s. Returns the points and c (n,).
pub fn radially_scaled(
    dataset: Toy2d,
    n: usize,
    rng: &mut dyn RngCore,
) -> (Array2<f64>, Array1<f64>) {
    let mut x = dataset.sample(n, rng);
    let mut c = Array1::zeros(n);
    for (mut row, c) in x.rows_mut().into_iter().zip(c.iter_mut()) {
        let s = 0.5 + 0.5 * unit(rng).sqrt();
        *c = s;
        row *= s;
    }
    (x, c)
}

/// Per-axis stretch ("ellipse") wrapper: `s = √u` per axis, points × (s_x, s_y), c = (s_x, s_y).
/// Returns the points (n, 2) and c (n, 2).
pub fn stretched(dataset: Toy2d, n: usize, rng: &mut dyn RngCore) -> (Array2<f64>, Array2<f64>) {
    let mut x = dataset.sample(n, rng);
    let mut c = Array2::zeros((n, 2));
    for (mut row, mut c) in x.rows_mut().into_iter().zip(c.rows_mut()) {
        for j in 0..2 {
            let s = unit(rng).sqrt();
            c[j] = s;
            row[j] *= s;
        }
    }
    (x, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn draw(d: Toy2d) -> Array2<f64> {
        d.sample(40_000, &mut Xoshiro256PlusPlus::seed_from_u64(3))
    }

    fn radius(r: ndarray::ArrayView1<f64>) -> f64 {
        r[0].hypot(r[1])
    }

    fn mean_of(x: &Array2<f64>, f: impl Fn(ndarray::ArrayView1<f64>) -> f64) -> f64 {
        x.rows().into_iter().map(f).sum::<f64>() / x.nrows() as f64
    }

    /// Mean ≈ 0 (every dataset is point-symmetric), E‖x‖ ≈ `mean_radius`, inside [−5, 5]².
    fn check(d: Toy2d, mean_radius: f64, tol: f64) {
        let x = draw(d);
        let m = x.mean_axis(ndarray::Axis(0)).unwrap();
        // Every dataset is symmetric about the origin: |mean| is Monte Carlo noise (< 0.05).
        assert!(m[0].abs() < 0.05 && m[1].abs() < 0.05, "{d:?}: mean {m}");
        let r = mean_of(&x, radius);
        assert!((r - mean_radius).abs() < tol, "{d:?}: E‖x‖ = {r}");
        assert!(x.iter().all(|v| v.abs() < 5.0), "{d:?} leaves [−5, 5]²");
    }

    #[test]
    fn basic_statistics() {
        // E‖x‖: star bars 2(u + 0.3) → 1.6; rings 0.4k·2 → 2.0; ring 2.25 (noise adds ≈ 0.01·r);
        // annulus E r = 1.5. Tolerances cover the noise terms and Monte Carlo error.
        check(Toy2d::Star, 1.6, 0.02);
        check(Toy2d::EightStar, 1.6, 0.02);
        check(Toy2d::ConcentricRings, 2.0, 0.03);
        check(Toy2d::Ring, 2.25, 0.05);
        check(Toy2d::Annulus, 1.5, 0.05);
        // No closed form for the last three: 4·10⁵-point NumPy estimates of the same generators.
        check(Toy2d::TwoSpirals, 2.122, 0.04);
        check(Toy2d::Checkerboard, 3.060, 0.04);
        check(Toy2d::FourCircles, 2.260, 0.03);
    }

    #[test]
    fn four_circles_lie_on_their_circles() {
        let x = draw(Toy2d::FourCircles);
        let centres = [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)];
        for (i, r) in x.rows().into_iter().enumerate() {
            let (cx, cy) = centres[i % 4];
            let dist = (r[0] - cx).hypot(r[1] - cy);
            assert!((dist - 2.0).abs() < 0.7, "row {i}: {dist}"); // 0.1 noise, > 6σ
        }
    }

    #[test]
    fn checkerboard_fills_half_the_cells_uniformly() {
        let x = draw(Toy2d::Checkerboard);
        let mut cells = [[0usize; 4]; 4];
        for r in x.rows() {
            assert!(r[0].abs() <= 4.0 && r[1].abs() <= 4.0);
            let (i, j) = (((r[0] + 4.0) / 2.0) as usize, ((r[1] + 4.0) / 2.0) as usize);
            cells[i.min(3)][j.min(3)] += 1;
        }
        for (i, row) in cells.iter().enumerate() {
            for (j, &n) in row.iter().enumerate() {
                // Filled cells have i + j even; each holds 1/8 of the points (4σ ≈ 0.007).
                let want = if (i + j) % 2 == 0 { 0.125 } else { 0.0 };
                let got = n as f64 / x.nrows() as f64;
                assert!((got - want).abs() < 0.007, "cell ({i}, {j}): {got}");
            }
        }
    }

    #[test]
    fn star_bars_point_along_the_axes() {
        let x = draw(Toy2d::Star);
        for (i, r) in x.rows().into_iter().enumerate() {
            let [a, b] = rotate([r[0], r[1]], -PI / 2.0 * (i % 4) as f64);
            assert!(a > 0.0 && b.abs() < 0.6, "row {i}: ({a}, {b})");
        }
    }

    #[test]
    fn rotation_wrapper_undoes_to_the_base_dataset() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let (x, c) = rotated(Toy2d::Star, 20_000, &mut rng);
        let alphas: Vec<f64> = c.iter().map(|c| c * 45.0).collect();
        assert!(
            alphas
                .iter()
                .all(|a| (a - a.round()).abs() < 1e-9 && *a < 44.5)
        );
        let mean_c = c.mean().unwrap();
        assert!((mean_c - 22.0 / 45.0).abs() < 0.01, "E c = {mean_c}");
        for (i, (r, c)) in x.rows().into_iter().zip(&c).enumerate() {
            let back = rotate([r[0], r[1]], -(45.0 * c).to_radians());
            let [a, b] = rotate(back, -PI / 2.0 * (i % 4) as f64);
            assert!(a > 0.0 && b.abs() < 0.6 * ROTATION_SCALE, "row {i}");
        }
        let fwd = rotate_to([1.0, 0.0], 1.0);
        assert!((fwd[0] - 0.5).abs() < 1e-12 && (fwd[1] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn scale_wrappers_attach_their_factors() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let (x, s) = radially_scaled(Toy2d::Ring, 20_000, &mut rng);
        assert!(s.iter().all(|&s| (0.5..=1.0).contains(&s)));
        // E s = 0.5 + 0.5·E√u = 0.5 + 1/3.
        assert!((s.mean().unwrap() - 5.0 / 6.0).abs() < 0.01);
        let ratio = mean_of(&x, radius) / s.mean().unwrap();
        assert!((ratio - 2.25).abs() < 0.1, "{ratio}");
        let (_, s2) = stretched(Toy2d::Ring, 1000, &mut rng);
        assert_eq!(s2.dim(), (1000, 2));
        assert!(s2.iter().all(|&s| (0.0..=1.0).contains(&s)));
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_allowed() {
        for d in TOY2D_ALL {
            assert_eq!(Toy2d::from_name(d.name()).unwrap(), d);
        }
        let e = Toy2d::from_name("moons").unwrap_err().to_string();
        assert!(
            e.contains("moons") && e.contains("four-circles, checkerboard"),
            "{e}"
        );
    }

    #[test]
    fn same_seed_same_points() {
        for d in TOY2D_ALL {
            let a = d.sample(50, &mut Xoshiro256PlusPlus::seed_from_u64(1));
            let b = d.sample(50, &mut Xoshiro256PlusPlus::seed_from_u64(1));
            assert_eq!(a, b);
        }
    }
}

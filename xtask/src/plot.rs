//! Minimal SVG line plots, scatter plots and scatter panels for the reports (no plotting
//! dependency: a few series, axes, ticks and a legend are all the reports need, and SVG opens
//! in any browser).

use std::fmt::Write as _;

/// One named series of (x, y) points.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points in data coordinates; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Dashed (e.g. exact reference curves).
    pub dashed: bool,
}

impl Series {
    /// A solid series.
    pub fn solid(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            dashed: false,
        }
    }
}

const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..=n * 2)
        .map(|k| first + k as f64 * step)
        .take_while(|v| *v <= hi + 1e-9 * span)
        .collect()
}

/// How a series is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Line,
    Dots,
}

/// Renders a line chart as an SVG document.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    chart(title, x_label, y_label, series, Mark::Line)
}

/// Renders a scatter plot (small translucent dots; `dashed` is ignored) as an SVG document.
pub fn scatter_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    chart(title, x_label, y_label, series, Mark::Dots)
}

fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series], mark: Mark) -> String {
    let (w, h, ml, mr, mt, mb) = (720.0, 440.0, 70.0, 190.0, 40.0, 50.0);
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = 0.05 * (y1 - y0).max(1e-9);
    (y0, y1) = (y0 - pad, y1 + pad);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let sx = |x: f64| ml + (x - x0) / (x1 - x0).max(1e-12) * pw;
    let sy = |y: f64| mt + ph - (y - y0) / (y1 - y0).max(1e-12) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="22" text-anchor="middle" font-size="15">{title}</text>"#,
        ml + pw / 2.0
    );
    let _ = write!(
        s,
        r#"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    for t in nice_ticks(x0, x1, 6) {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            sx(t),
            mt,
            mt + ph,
            mt + ph + 16.0,
            trim(t)
        );
    }
    for t in nice_ticks(y0, y1, 6) {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#ddd"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>"##,
            ml,
            sy(t),
            ml + pw,
            ml - 6.0,
            sy(t) + 4.0,
            trim(t)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#,
        ml + pw / 2.0,
        h - 10.0
    );
    let _ = write!(
        s,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{y_label}</text>"#,
        mt + ph / 2.0
    );
    for (k, se) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        if mark == Mark::Dots {
            for &(x, y) in se
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
            {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="1.3" fill="{color}" fill-opacity="0.35"/>"#,
                    sx(x),
                    sy(y)
                );
            }
            let ly = mt + 14.0 + 18.0 * k as f64;
            let _ = write!(
                s,
                r#"<circle cx="{0}" cy="{1}" r="4" fill="{color}"/><text x="{2}" y="{3}">{4}</text>"#,
                ml + pw + 22.0,
                ly,
                ml + pw + 40.0,
                ly + 4.0,
                se.label
            );
            continue;
        }
        let path: Vec<String> = se
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.2},{:.2}", sx(x), sy(y)))
            .collect();
        let dash = if se.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
            path.join(" ")
        );
        let ly = mt + 14.0 + 18.0 * k as f64;
        let _ = write!(
            s,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{color}" stroke-width="2"{dash}/><text x="{3}" y="{4}">{5}</text>"#,
            ml + pw + 10.0,
            ly,
            ml + pw + 34.0,
            ml + pw + 40.0,
            ly + 4.0,
            se.label
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A normalised histogram (density) of `values` on `bins` cells of [lo, hi], as step points.
pub fn histogram_series(
    label: &str,
    values: impl Iterator<Item = f64>,
    (lo, hi): (f64, f64),
    bins: usize,
    dashed: bool,
) -> Series {
    let mut counts = vec![0.0; bins];
    let mut n = 0.0;
    let width = (hi - lo) / bins as f64;
    for v in values {
        n += 1.0;
        if v.is_finite() && v >= lo && v < hi {
            counts[((v - lo) / width) as usize] += 1.0;
        }
    }
    let mut points = Vec::with_capacity(2 * bins);
    for (k, c) in counts.iter().enumerate() {
        let d = c / (n * width).max(1e-300);
        points.push((lo + k as f64 * width, d));
        points.push((lo + (k + 1) as f64 * width, d));
    }
    Series {
        label: label.into(),
        points,
        dashed,
    }
}

/// One square panel of a scatter grid: points, and optional line segments (e.g. x → T(x)).
pub struct Panel {
    /// Caption above the panel.
    pub label: String,
    /// Points in data coordinates; points outside the window or non-finite are skipped.
    pub points: Vec<(f64, f64)>,
    /// Segments drawn under the points.
    pub segments: Vec<((f64, f64), (f64, f64))>,
}

/// Renders scatter panels on a common square window [lo, hi]², `columns` per row, as one SVG.
/// Each panel's points are one `<path>` of round dots, so thousands of points stay small.
pub fn scatter_panels(
    title: &str,
    panels: &[Panel],
    (lo, hi): (f64, f64),
    columns: usize,
) -> String {
    let (side, gap, top) = (220.0, 30.0, 50.0);
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let (w, h) = (
        gap + columns as f64 * (side + gap),
        top + rows as f64 * (side + gap),
    );
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="22" text-anchor="middle" font-size="15">{title}</text>"#,
        w / 2.0
    );
    let inside = |(x, y): (f64, f64)| {
        x.is_finite() && y.is_finite() && lo <= x && x <= hi && lo <= y && y <= hi
    };
    for (k, p) in panels.iter().enumerate() {
        let (x0, y0) = (
            gap + (k % columns) as f64 * (side + gap),
            top + (k / columns) as f64 * (side + gap),
        );
        let sx = |x: f64| x0 + (x - lo) / (hi - lo) * side;
        let sy = |y: f64| y0 + side - (y - lo) / (hi - lo) * side;
        let _ = write!(
            s,
            r#"<rect x="{x0}" y="{y0}" width="{side}" height="{side}" fill="none" stroke="black"/><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + side / 2.0,
            y0 - 6.0,
            p.label
        );
        let mut d = String::new();
        for &(a, b) in p.segments.iter().filter(|(a, b)| inside(*a) && inside(*b)) {
            let _ = write!(
                d,
                "M{:.1} {:.1}L{:.1} {:.1}",
                sx(a.0),
                sy(a.1),
                sx(b.0),
                sy(b.1)
            );
        }
        if !d.is_empty() {
            let _ = write!(
                s,
                r##"<path d="{d}" stroke="#999" stroke-width="0.5" stroke-opacity="0.6" fill="none"/>"##
            );
        }
        let mut d = String::new();
        for &(x, y) in p.points.iter().filter(|q| inside(**q)) {
            let _ = write!(d, "M{:.1} {:.1}h0", sx(x), sy(y));
        }
        let _ = write!(
            s,
            r#"<path d="{d}" stroke="{}" stroke-width="2.2" stroke-linecap="round" stroke-opacity="0.5" fill="none"/>"#,
            COLORS[k % COLORS.len()]
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_an_svg_with_every_series() {
        let s = line_chart(
            "t",
            "x",
            "y",
            &[
                Series {
                    label: "a".into(),
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                    dashed: false,
                },
                Series {
                    label: "b".into(),
                    points: vec![(0.0, f64::NAN), (1.0, 0.5)],
                    dashed: true,
                },
            ],
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(!s.contains("NaN"));
    }

    #[test]
    fn scatter_draws_one_dot_per_finite_point_plus_legend() {
        let s = scatter_chart(
            "t",
            "x",
            "y",
            &[Series {
                label: "a".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (f64::NAN, 0.0)],
                dashed: false,
            }],
        );
        assert_eq!(s.matches("<circle").count(), 3);
        assert!(!s.contains("<polyline"));
    }

    #[test]
    fn scatter_draws_one_dot_per_point_inside_the_window() {
        let panel = |label: &str| Panel {
            label: label.into(),
            points: vec![(0.0, 0.0), (1.0, -1.0), (9.0, 0.0), (f64::NAN, 0.0)],
            segments: vec![((0.0, 0.0), (1.0, -1.0))],
        };
        let s = scatter_panels("t", &[panel("a"), panel("b"), panel("c")], (-2.0, 2.0), 2);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("h0").count(), 6);
        assert_eq!(s.matches("stroke=\"#999\"").count(), 3);
        assert!(!s.contains("NaN"));
    }

    #[test]
    fn histogram_integrates_to_the_fraction_inside() {
        let h = histogram_series("h", [0.1, 0.2, 0.7, 5.0].into_iter(), (0.0, 1.0), 4, false);
        let area: f64 = h.points.chunks(2).map(|p| (p[1].0 - p[0].0) * p[0].1).sum();
        assert!((area - 0.75).abs() < 1e-12);
    }
}

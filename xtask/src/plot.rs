//! Minimal SVG line plots and scatter panels for the reports (no plotting dependency: a few
//! series, axes, ticks and a legend are all the reports need, and SVG opens in any browser).

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

/// Renders a line chart as an SVG document.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
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

/// Small-multiple scatter plots: one square panel per `(label, points)` on the common window
/// `[x0, x1] × [y0, y1]`, four panels per row; points outside the window are dropped.
pub fn scatter_panels(
    title: &str,
    panels: &[(String, Vec<(f64, f64)>)],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> String {
    let (side, gap, top, cols) = (200.0, 36.0, 44.0, 4usize);
    let rows = panels.len().div_ceil(cols).max(1);
    let w = cols as f64 * (side + gap) + gap;
    let h = top + rows as f64 * (side + gap);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="22" text-anchor="middle" font-size="15">{title}</text>"#,
        w / 2.0
    );
    for (k, (label, pts)) in panels.iter().enumerate() {
        let (ox, oy) = (
            gap + (k % cols) as f64 * (side + gap),
            top + (k / cols) as f64 * (side + gap),
        );
        let color = COLORS[k % COLORS.len()];
        let _ = write!(
            s,
            r#"<rect x="{ox}" y="{oy}" width="{side}" height="{side}" fill="none" stroke="black"/><text x="{}" y="{}" text-anchor="middle">{label}</text>"#,
            ox + side / 2.0,
            oy - 5.0
        );
        for &(x, y) in pts {
            if !(x >= x0 && x <= x1 && y >= y0 && y <= y1) {
                continue;
            }
            let px = ox + (x - x0) / (x1 - x0) * side;
            let py = oy + side - (y - y0) / (y1 - y0) * side;
            let _ = write!(
                s,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="0.9" fill="{color}" fill-opacity="0.5"/>"#
            );
        }
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
    fn scatter_panels_draw_points_inside_the_window() {
        let s = scatter_panels(
            "t",
            &[
                ("a".into(), vec![(0.0, 0.0), (5.0, 0.0)]),
                ("b".into(), vec![(0.5, 0.5)]),
            ],
            (-1.0, 1.0),
            (-1.0, 1.0),
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 2);
    }

    #[test]
    fn histogram_integrates_to_the_fraction_inside() {
        let h = histogram_series("h", [0.1, 0.2, 0.7, 5.0].into_iter(), (0.0, 1.0), 4, false);
        let area: f64 = h.points.chunks(2).map(|p| (p[1].0 - p[0].0) * p[0].1).sum();
        assert!((area - 0.75).abs() < 1e-12);
    }
}

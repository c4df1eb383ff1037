//! The Flows-for-Flows report: metric rows, the Markdown tables beside the paper's, and the
//! scatter, morph and distance-histogram plots.

use super::*;

/// Points at α = 0 carried to several α′ by the top flow and by base transfer.
pub(super) fn morph_panels(
    setup: &Setup,
    base: &FlowModel,
    top: &FlowModel,
    plain: &Array2<f64>,
) -> Result<Vec<Panel>> {
    let n = setup.n_plot.min(plain.nrows());
    let plain = plain.slice(s![..n, ..]).to_owned();
    let rotated_to = |a: f64| {
        Array2::from_shape_fn(plain.dim(), |(i, j)| {
            toy2d::rotate_to([plain[[i, 0]], plain[[i, 1]]], a)[j]
        })
    };
    let x0 = rotated_to(0.0);
    let c0 = Array1::from_elem(n, C_OFFSET);
    let mut panels = vec![panel("input α = 0°", &x0, None)];
    for deg in [11.0, 22.0, 33.0, 44.0] {
        let ct = Array1::from_elem(n, C_OFFSET + deg / 45.0);
        let moved = map_rows(&top.flow, &top.params, &x0, Some((&c0, &ct)), false)?;
        panels.push(panel(&format!("F4F → {deg}°"), &moved, Some(&x0)));
    }
    let ct = Array1::from_elem(n, C_OFFSET + 44.0 / 45.0);
    let bt = base_transfer_conditional(base, &x0, &c0, &ct)?;
    panels.push(panel("base transfer → 44°", &bt, Some(&x0)));
    panels.push(panel("exact at 44°", &rotated_to(44.0 / 45.0), None));
    Ok(panels)
}

/// A scatter panel; with `from`, segments from the first 200 inputs to their images.
pub(super) fn panel(label: &str, points: &Array2<f64>, from: Option<&Array2<f64>>) -> Panel {
    let pts = |a: &Array2<f64>| {
        a.rows()
            .into_iter()
            .map(|r| (r[0], r[1]))
            .collect::<Vec<_>>()
    };
    let segments = match from {
        None => Vec::new(),
        Some(f) => pts(f).into_iter().zip(pts(points)).take(200).collect(),
    };
    Panel {
        label: label.into(),
        points: pts(points),
        segments,
    }
}

pub(super) fn row(
    method: &str,
    condition: &str,
    metric: &str,
    (value, std): (f64, f64),
    n_runs: usize,
) -> Row {
    Row {
        method: method.into(),
        condition: condition.into(),
        metric: metric.into(),
        value,
        std,
        n_runs,
    }
}

pub(super) fn paper_cell(method: &str, identity: bool) -> String {
    PAPER
        .iter()
        .find(|(m, _, _)| *m == method)
        .map(|(_, i, t)| {
            let (m, s) = if identity { i } else { t };
            format!("{m:.2} ± {s:.2}")
        })
        .unwrap_or_else(|| "—".into())
}

/// Metric rows and the Markdown tables of the 2-D part.
pub(super) fn tables(
    setup: &Setup,
    methods: &[String],
    sides: &[Side],
    u: &Unconditional,
    rows: &mut Vec<Row>,
) -> (String, String) {
    let runs = |m: &str| {
        if top_method(m).is_some() {
            setup.runs
        } else {
            1
        }
    };
    let task_anchor = |task: &[(usize, usize)]| {
        let v: Vec<f64> = u
            .anchor
            .iter()
            .filter(|(p, _)| task.contains(p))
            .map(|(_, v)| *v)
            .collect();
        mean_std(&v).0
    };
    let (anchor_id, anchor_tr) = (task_anchor(&u.identity), task_anchor(&u.transfer));
    let mut main = String::new();
    let mut per_pair = String::new();
    for m in methods.iter().filter(|m| *m != "conditional") {
        let of = |task: &[(usize, usize)]| {
            let r: Vec<&PairResult> = u
                .results
                .iter()
                .filter(|(mm, p, _)| mm == m && task.contains(p))
                .map(|(_, _, r)| r)
                .collect();
            pool(&r)
        };
        let (id, tr) = (of(&u.identity), of(&u.transfer));
        for (task, (dm, ds, nm, ns), anchor) in
            [("identity", id, anchor_id), ("transfer", tr, anchor_tr)]
        {
            rows.push(row(m, task, "distance", (dm, ds), runs(m)));
            rows.push(row(m, task, "nll_transported", (nm, ns), runs(m)));
            rows.push(row(m, task, "nll_target_anchor", (anchor, 0.0), 1));
        }
        main.push_str(&format!(
            "| {m} | {:.2} ± {:.2} | {} | {:.2} ± {:.2} | {} | {:.3} | {:.3} |\n",
            id.0,
            id.1,
            paper_cell(m, true),
            tr.0,
            tr.1,
            paper_cell(m, false),
            id.2,
            tr.2
        ));
        for (mm, pair, r) in &u.results {
            if mm != m {
                continue;
            }
            let name = pair_name(sides, *pair);
            let d = mean_std(&r.distance);
            let n = mean_std(&r.nll);
            rows.push(row(m, &name, "distance", d, runs(m)));
            rows.push(row(m, &name, "nll_transported", (n.0, 0.0), runs(m)));
            per_pair.push_str(&format!(
                "| {m} | {name} | {:.2} ± {:.2} | {:.3} | {:.3} |\n",
                d.0,
                d.1,
                n.0,
                u.anchor
                    .iter()
                    .find(|(p, _)| p == pair)
                    .map_or(f64::NAN, |(_, v)| *v)
            ));
        }
    }
    main.push_str(&format!(
        "| target's own test set (anchor) | | | | | {anchor_id:.3} | {anchor_tr:.3} |\n"
    ));
    (main, per_pair)
}

pub(super) fn conditional_table(r: &ConditionalResult, rows: &mut Vec<Row>) -> String {
    let mut t = String::new();
    for (label, d, nll) in &r.rows {
        let d = mean_std(d);
        let n = mean_std(nll).0;
        rows.push(row(label, "rotation", "distance", d, 1));
        rows.push(row(label, "rotation", "nll_transported", (n, 0.0), 1));
        t.push_str(&format!("| {label} | {:.3} ± {:.3} | {n:.3} |\n", d.0, d.1));
    }
    t
}

/// Scatter plots (input, target, transported per method) for a few pairs, and the histograms of
/// the distance travelled per task.
pub(super) fn plots(
    dir: &Path,
    setup: &Setup,
    sides: &[Side],
    u: &Unconditional,
    methods: &[String],
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let shown: Vec<(usize, usize)> = u
        .transfer
        .iter()
        .take(2)
        .copied()
        .chain(u.identity.last().copied())
        .collect();
    let n = setup.n_plot.min(setup.n_test);
    for &pair in &shown {
        let (left, right) = (&sides[pair.0], &sides[pair.1]);
        let input = left.test.slice(s![..n, ..]).to_owned();
        let mut panels = vec![
            panel(&format!("input: {}", left.dataset.name()), &input, None),
            panel(
                &format!("target: {}", right.dataset.name()),
                &right.test_target.slice(s![..n, ..]).to_owned(),
                None,
            ),
        ];
        for (m, p, r) in &u.results {
            if *p == pair && m != "random-pair" {
                panels.push(panel(
                    m,
                    &r.moved.slice(s![..n, ..]).to_owned(),
                    Some(&input),
                ));
            }
        }
        let name = format!(
            "scatter_{}_to_{}.svg",
            left.dataset.name(),
            right.dataset.name()
        );
        let title = format!(
            "{} → {} (grey: x → T(x) for 200 points)",
            left.dataset.name(),
            right.dataset.name()
        );
        crate::reproduce::common::save_svg(
            dir,
            &name,
            &scatter_panels(&title, &panels, (-4.5, 4.5), 4),
        )?;
        names.push(name);
    }
    for (task, pairs) in [("identity", &u.identity), ("transfer", &u.transfer)] {
        let series: Vec<Series> = methods
            .iter()
            .filter(|m| *m != "conditional")
            .map(|m| {
                let values = u
                    .results
                    .iter()
                    .filter(|(mm, p, _)| mm == m && pairs.contains(p))
                    .flat_map(|(_, _, r)| r.distance.iter().copied());
                histogram_series(m, values, (0.0, 8.0), 40, m == "random-pair")
            })
            .collect();
        let name = format!("distance_{task}.svg");
        let svg = line_chart(
            &format!("distance travelled, {task} task"),
            "‖T(x) − x‖",
            "density",
            &series,
        );
        crate::reproduce::common::save_svg(dir, &name, &svg)?;
        names.push(name);
    }
    Ok(names)
}

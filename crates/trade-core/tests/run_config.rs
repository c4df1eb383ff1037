//! `RunConfig`: the committed example checks and trains, a run resumes bit for bit, and every
//! bad field is an error that names its path and the allowed range.

use trade_core::{CoreError, RunConfig, Silent};

const EXAMPLE: &str = include_str!("../../../docs/examples/multi-well-trade-grid.json");

fn example() -> RunConfig {
    let mut c = RunConfig::from_json(EXAMPLE).unwrap();
    // Small enough for a test: the structure is the example's.
    c.data.n_train = 512;
    c.train.steps = 6;
    c.train.checkpoint_every = 3;
    if let trade_core::FlowSpec::Preset { blocks, hidden, .. } = &mut c.flow {
        *blocks = 2;
        *hidden = vec![8];
    }
    for l in &mut c.losses {
        match l {
            trade_core::LossSpec::Nll { batch, .. } => *batch = 64,
            trade_core::LossSpec::TradeGrid { grid, .. } => {
                grid.batch = 64;
                grid.n_points = 4;
                grid.n_snis = 64;
            }
            _ => {}
        }
    }
    c
}

fn err_of(mutate: impl FnOnce(&mut RunConfig)) -> String {
    let mut c = example();
    mutate(&mut c);
    match c.check() {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn example_round_trips_checks_and_trains_deterministically() {
    let c = RunConfig::from_json(EXAMPLE).unwrap();
    assert_eq!(RunConfig::from_json(&c.to_json()).unwrap(), c);
    let bits = |run: &trade_core::CheckedRun| -> Vec<u64> {
        let p = &run.model().params;
        p.ids()
            .flat_map(|id| p.get(id).iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    };
    let mut a = example().check().unwrap();
    assert_eq!(a.data().dim(), (512, 5));
    let s = a.train(&mut Silent, None, false).unwrap();
    assert_eq!(s.skipped, 0);
    let mut b = example().check().unwrap();
    b.train(&mut Silent, None, false).unwrap();
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn interrupted_run_resumes_to_the_same_bits() {
    let dir = std::env::temp_dir().join(format!("trade-run-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt = dir.join("state.json");
    let mut full = example().check().unwrap();
    full.train(&mut Silent, None, false).unwrap();
    // Interrupted after the step-3 checkpoint: train 3 steps, then a fresh process resumes.
    let mut first = example();
    first.train.steps = 6;
    let mut part = first.check().unwrap();
    {
        // Run to step 3 only, through the trainer directly.
        let losses = part.losses().unwrap();
        let cfg = part.train_config().clone();
        let model = part.model();
        let mut params = model.params.clone();
        let mut obj = trade_core::WeightedObjective::new(&model.flow, losses).unwrap();
        let mut t = trade_core::Trainer::new(cfg, Some(ckpt.clone())).unwrap();
        t.run(&mut params, &mut obj, &mut Silent, Some(3)).unwrap();
    }
    part = example().check().unwrap();
    part.train(&mut Silent, Some(ckpt.clone()), true).unwrap();
    let p = |r: &trade_core::CheckedRun| {
        let s = &r.model().params;
        s.ids().map(|id| s.get(id).clone()).collect::<Vec<_>>()
    };
    assert_eq!(p(&full), p(&part));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_fields_name_their_path_and_range() {
    let cases: Vec<(String, &[&str])> =
        vec![
            (err_of(|c| c.train.lr = 0.0), &["train.lr", "> 0"]),
            (err_of(|c| c.train.steps = 0), &["train.steps", "≥ 1"]),
            (
                err_of(|c| c.train.grad_clip = -1.0),
                &["train", "grad_clip"],
            ),
            (err_of(|c| c.data.n_train = 0), &["data.n_train"]),
            (err_of(|c| c.data.c0 = -1.0), &["data.c0"]),
            (
                err_of(|c| c.target.name = "nope".into()),
                &["target", "nope"],
            ),
            (err_of(|c| c.losses.clear()), &["losses", "≥ 1"]),
            (
                err_of(|c| {
                    if let trade_core::LossSpec::Nll { batch, .. } = &mut c.losses[0] {
                        *batch = 0;
                    }
                }),
                &["losses[0] (nll)", "batch"],
            ),
            (
                err_of(|c| {
                    if let trade_core::LossSpec::TradeGrid { grid, .. } = &mut c.losses[1] {
                        grid.c_min = 2.0;
                    }
                }),
                &["losses[1] (trade-grid)"],
            ),
            (
                err_of(|c| {
                    if let trade_core::FlowSpec::Preset { preset, .. } = &mut c.flow {
                        *preset = "glow".into();
                    }
                }),
                &["flow.preset", "glow", "multi-well"],
            ),
            (
                err_of(|c| {
                    c.flow = trade_core::FlowSpec::Full(Box::new(
                        trade_flows::FlowConfig::multi_well(5, 2, &[8]),
                    ));
                    c.target.dim = Some(3);
                }),
                &["flow", "expected 3, got 5"],
            ),
        ];
    for (msg, needles) in cases {
        for n in needles {
            assert!(msg.contains(n), "{msg:?} lacks {n:?}");
        }
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_parse_errors_naming_them() {
    let e = RunConfig::from_json(&EXAMPLE.replace("\"n_train\"", "\"n_trian\"")).unwrap_err();
    assert!(matches!(e, CoreError::Parse { .. }));
    assert!(e.to_string().contains("n_trian"), "{e}");
    let e =
        RunConfig::from_json(&EXAMPLE.replace("\"batch\": 256 }", "\"batch\": -1 }")).unwrap_err();
    assert!(e.to_string().contains("line"), "{e}");
    let e = RunConfig::from_json(&EXAMPLE.replace("\"kind\": \"nll\"", "\"kind\": \"nl\""))
        .unwrap_err();
    assert!(e.to_string().contains("nl"), "{e}");
}

//! `smoke`: TRADE end to end on a 1-D Gaussian family p(x|T) = N(0, T) with an MLP density,
//! trained at T = 1 only; exercises the exact second-order path of trade-ad in seconds.

use super::common::{MetricRow, write_report};
use super::{Profile, ReproduceArgs};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Instant;
use trade_ad::{
    Activation, Adam, AdamConfig, LastLayer, Mlp, OneCycle, ParamStore, Schedule, Tape, Var,
    clip_grad_norm,
};

/// log q(x|T) for q = N(μ(T), σ(T)²), [μ, log σ] = MLP(log T); x constant, T a condition.
fn log_q(t: &mut Tape, store: &ParamStore, mlp: &Mlp, x: Var, temp: Var) -> Var {
    let log_t = t.log(temp);
    let h = mlp.forward(t, store, log_t);
    let mu = t.slice_cols(h, 0, 1);
    let log_sigma = t.slice_cols(h, 1, 2);
    let d = t.sub(x, mu);
    let inv_sigma = {
        let m = t.neg(log_sigma);
        t.exp(m)
    };
    let z = t.mul(d, inv_sigma);
    let z2 = t.square(z);
    let half = t.scale(z2, -0.5);
    let lq = t.sub(half, log_sigma);
    t.add_scalar(lq, -0.5 * (2.0 * std::f64::consts::PI).ln())
}

fn normal_column(n: usize, rng: &mut Xoshiro256PlusPlus) -> Array2<f64> {
    Array2::from_shape_simple_fn((n, 1), || StandardNormal.sample(rng))
}

/// Trains and reports; returns the summary line.
pub fn run(args: &ReproduceArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let (steps, batch) = match args.profile {
        Profile::Quick => (1500, 256),
        Profile::Paper => (6000, 1024),
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    let mut store = ParamStore::new();
    let mlp = Mlp::new(
        &mut store,
        "mlp",
        &[1, 32, 32, 2],
        Activation::Silu,
        LastLayer::Zero,
        &mut rng,
    )?;
    let mut adam = Adam::new(AdamConfig::default())?;
    let schedule = Schedule::OneCycle(OneCycle::new(3e-3, steps));
    let (t_lo, t_hi) = (0.5f64, 2.0f64);
    let mut tape = Tape::new();
    let bar = indicatif::ProgressBar::new(steps as u64);
    for step in 0..steps {
        tape.clear();
        // Boundary: NLL on exact samples at T0 = 1.
        let x0 = tape.constant(normal_column(batch, &mut rng));
        let c0 = tape.constant(Array2::ones((batch, 1)));
        let lq0 = log_q(&mut tape, &store, &mlp, x0, c0);
        let nll = tape.mean(lq0, None);
        let nll = tape.neg(nll);
        // TRADE: one T per batch, log-uniform; x ~ q(·|T) detached; SNIS for E_p[∂_T U].
        let temp: f64 = (t_lo.ln() + (t_hi / t_lo).ln() * rand::Rng::random::<f64>(&mut rng)).exp();
        let (mu, sigma) = predict(&store, &mlp, temp);
        let xs = normal_column(batch, &mut rng).mapv(|e| mu + sigma * e);
        let xv = tape.constant(xs.clone());
        let cv = tape.condition(Array2::from_elem((batch, 1), temp));
        let lq = log_q(&mut tape, &store, &mlp, xv, cv);
        let g = tape.tangent(lq).expect("log q depends on T");
        let target = trade_target(&xs, tape.value(lq).column(0).to_owned(), temp);
        let tv = tape.constant(target);
        let r = tape.sub(g, tv);
        let r2 = tape.square(r);
        let trade = tape.mean(r2, None);
        let loss = tape.add(nll, trade);
        let mut grads = tape.backward(loss);
        if !tape.scalar(loss).is_finite() || !grads.all_finite() {
            bar.println(format!(
                "step {step}: non-finite loss or gradient, step skipped"
            ));
            continue;
        }
        clip_grad_norm(&mut grads, 10.0);
        let (lr, beta1) = schedule.at(step);
        adam.step(&mut store, &grads, lr, beta1);
        bar.inc(1);
    }
    bar.finish_and_clear();
    report(args, &store, &mlp, started)
}

/// t = E_p[∂_T U] − ∂_T U(x;T) with U = x²/(2T), ∂_T U = −x²/(2T²); E_p by self-normalised
/// importance sampling with log w = −U − log q.
fn trade_target(xs: &Array2<f64>, log_q: ndarray::Array1<f64>, temp: f64) -> Array2<f64> {
    let du = xs.mapv(|x| -x * x / (2.0 * temp * temp));
    let log_w: Vec<f64> = xs
        .column(0)
        .iter()
        .zip(&log_q)
        .map(|(x, lq)| -x * x / (2.0 * temp) - lq)
        .collect();
    let m = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|l| (l - m).exp()).collect();
    let expectation =
        w.iter().zip(du.column(0)).map(|(w, d)| w * d).sum::<f64>() / w.iter().sum::<f64>();
    du.mapv(|d| expectation - d)
}

fn predict(store: &ParamStore, mlp: &Mlp, temp: f64) -> (f64, f64) {
    let mut t = Tape::new();
    let c = t.constant(Array2::from_elem((1, 1), temp.ln()));
    let h = mlp.forward(&mut t, store, c);
    let v = t.value(h);
    (v[[0, 0]], v[[0, 1]].exp())
}

fn report(
    args: &ReproduceArgs,
    store: &ParamStore,
    mlp: &Mlp,
    started: Instant,
) -> anyhow::Result<String> {
    let dir = args.out.join("smoke");
    let mut rows = Vec::new();
    let mut md = String::from(
        "# smoke: TRADE on p(x|T) = N(0, T)\n\nTrained by NLL at T0 = 1 only, propagated to T ∈ [0.5, 2] by the TRADE loss.\n\n| T | μ(T) | σ(T) | exact √T | KL(p‖q) |\n|---|---|---|---|---|\n",
    );
    for temp in [0.5, 0.75, 1.0, 1.5, 2.0] {
        let (mu, sigma) = predict(store, mlp, temp);
        let s_true = f64::sqrt(temp);
        let kl = (sigma / s_true).ln() + (temp + mu * mu) / (2.0 * sigma * sigma) - 0.5;
        md.push_str(&format!(
            "| {temp} | {mu:.4} | {sigma:.4} | {s_true:.4} | {kl:.2e} |\n"
        ));
        rows.push(MetricRow {
            method: "trade-continuous".into(),
            condition: temp,
            metric: "kl".into(),
            value: kl,
            std: 0.0,
            n_runs: 1,
        });
    }
    md.push_str(&format!(
        "\nprofile {:?}, seed {}, wall time {:.1} s\n",
        args.profile,
        args.seed,
        started.elapsed().as_secs_f64()
    ));
    write_report(&dir, &rows, &md)?;
    Ok(format!(
        "smoke: max KL(p‖q) over T ∈ [0.5, 2] = {:.1e}",
        rows.iter().map(|r| r.value).fold(0.0, f64::max)
    ))
}

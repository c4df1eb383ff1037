//! Profiling driver: the multi-well TRADE step (log q with the c-tangent, Σ g², one reverse
//! sweep) on one tape, for `valgrind --tool=callgrind` or `perf record`.
//!
//! `cargo run --release -p trade-flows --example trade_step -- [batch] [steps] [f64|f32-matmul]`
//! (defaults 256, 2, f64).
//! Prints the loss and the gradient norm, so that runs before and after a change can be
//! compared for the same numbers.

use ndarray::Array2;
use trade_ad::{MatmulPrecision, Tape};
use trade_flows::{Condition, Distribution, FlowConfig, FlowModel};

fn main() {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let precision = match args.next().as_deref() {
        None | Some("f64") => MatmulPrecision::Native,
        Some("f32-matmul") => MatmulPrecision::F32,
        Some(other) => panic!("precision {other:?}: allowed f64 | f32-matmul"),
    };
    let mut m = FlowModel::new(FlowConfig::multi_well(5, 15, &[256, 256])).expect("config");
    for id in m.params.ids().collect::<Vec<_>>() {
        if m.params.is_trainable(id) {
            let mut k = id.index() as f64;
            m.params.get_mut(id).mapv_inplace(|v| {
                k += 1.0;
                v + 0.02 * ((k * 0.754_877_666).fract() - 0.5)
            });
        }
    }
    let x = Array2::from_shape_fn((batch, 5), |(i, j)| {
        3.0 * (((i * 7 + j * 13 + 3) as f64 * 0.618_034).fract() - 0.5)
    });
    let c = Array2::from_shape_fn((batch, 1), |(i, _)| 0.5 + (i % 10) as f64 * 0.15);
    let mut tape: Tape = Tape::new();
    tape.set_matmul_precision(precision);
    for _ in 0..steps {
        tape.clear();
        let cc = tape.condition(c.clone());
        let xv = tape.constant(x.clone());
        let lp = m
            .flow
            .log_prob(&mut tape, &m.params, xv, &Condition::c(cc))
            .expect("log_prob");
        let g = tape.tangent(lp).expect("tangent");
        let sq = tape.square(g);
        let l = tape.mean(sq, None);
        let grads = tape.backward(l);
        let norm: f64 = m
            .params
            .ids()
            .filter_map(|id| grads.param(id))
            .map(|g| g.iter().map(|v| v * v).sum::<f64>())
            .sum::<f64>()
            .sqrt();
        #[allow(clippy::print_stdout)]
        {
            println!(
                "nodes {} loss {:.17e} grad_norm {:.17e}",
                tape.len(),
                tape.scalar(l),
                norm
            );
        }
    }
}

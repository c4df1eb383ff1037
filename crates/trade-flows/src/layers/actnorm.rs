//! ActNorm (`flows.md` §3): y = exp(a) ⊙ x + b per dimension, or per channel of a channel-major
//! image (a and b shared by the channel's positions), log|det| = (positions)·Σ a, with a
//! data-dependent initialisation (zero mean, unit variance on the first batch it sees).

use crate::FlowError;
use crate::bijector::{Bijector, Context};
use ndarray::{Array2, ArrayView2};
use std::sync::Arc;
use trade_ad::{Float, ParamId, ParamStore, Tape, Var};

/// Affine normalisation with learnable log-scale `a` and shift `b`, both (1, channels); column
/// j of the vector uses entry `j / positions` (channel-major layout; per dimension when
/// channels = d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActNorm {
    dim: usize,
    positions: usize,
    log_scale: ParamId,
    shift: ParamId,
}

impl ActNorm {
    /// Per dimension: registers `{name}.log_scale` and `{name}.shift`, both (1, d) zeros (the
    /// identity).
    pub fn new<F: Float>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
    ) -> Result<Self, FlowError> {
        Self::per_channel(store, name, dim, dim)
    }

    /// Per channel of a channel-major image with `channels` channels of d/channels positions
    /// each: (1, channels) parameters, zeros.
    pub fn per_channel<F: Float>(
        store: &mut ParamStore<F>,
        name: &str,
        dim: usize,
        channels: usize,
    ) -> Result<Self, FlowError> {
        if channels == 0 || dim % channels != 0 {
            return Err(FlowError::out_of_range(
                format!("{name}.channels"),
                channels,
                "≥ 1 and a divisor of the dimension",
            ));
        }
        let shape = (1, channels);
        let log_scale = store.add_value(&format!("{name}.log_scale"), Array2::zeros(shape))?;
        let shift = store.add_value(&format!("{name}.shift"), Array2::zeros(shape))?;
        Ok(Self {
            dim,
            positions: dim / channels,
            log_scale,
            shift,
        })
    }

    /// A (1, channels) parameter spread to (1, d).
    fn spread<F: Float>(&self, tape: &mut Tape<F>, store: &ParamStore<F>, id: ParamId) -> Var {
        let p = tape.param(store, id);
        if self.positions == 1 {
            return p;
        }
        let idx: Vec<usize> = (0..self.dim).map(|j| j / self.positions).collect();
        tape.gather_cols_shared(p, Arc::new(idx))
    }

    fn log_det<F: Float>(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        sign: f64,
    ) -> Var {
        let a = tape.param(store, self.log_scale);
        let s = tape.sum(a, None);
        let s = tape.scale(s, sign * self.positions as f64);
        let n = tape.shape(x).0;
        tape.broadcast(s, (n, 1))
    }
}

impl<F: Float> Bijector<F> for ActNorm {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        _: &Context,
    ) -> (Var, Var) {
        let a = self.spread(tape, store, self.log_scale);
        let b = self.spread(tape, store, self.shift);
        let e = tape.exp(a);
        let ex = tape.mul(x, e);
        let y = tape.add(ex, b);
        (y, self.log_det(tape, store, x, 1.0))
    }

    fn inverse(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        _: &Context,
    ) -> (Var, Var) {
        let a = self.spread(tape, store, self.log_scale);
        let b = self.spread(tape, store, self.shift);
        let d = tape.sub(z, b);
        let na = tape.neg(a);
        let e = tape.exp(na);
        let x = tape.mul(d, e);
        (x, self.log_det(tape, store, z, -1.0))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }

    /// a = −ln std(x), b = −mean(x)·exp(a) per dimension or channel (population std over the
    /// batch and the channel's positions, floor 1e-6).
    fn data_init(&self, store: &mut ParamStore<F>, x: ArrayView2<'_, F>) {
        let channels = self.dim / self.positions;
        let (mut a, mut b) = (Array2::zeros((1, channels)), Array2::zeros((1, channels)));
        for ch in 0..channels {
            let cols = x.slice(ndarray::s![
                ..,
                ch * self.positions..(ch + 1) * self.positions
            ]);
            let n = F::c(cols.len().max(1) as f64);
            let mean = cols.sum() / n;
            let var = cols.iter().map(|&v| (v - mean).powi(2)).sum::<F>() / n;
            let la = -var.sqrt().max(F::c(1e-6)).ln();
            a[[0, ch]] = la;
            b[[0, ch]] = -mean * la.exp();
        }
        *store.get_mut(self.log_scale) = a;
        *store.get_mut(self.shift) = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_init_standardises_each_channel() {
        let mut store = ParamStore::new();
        let layer = ActNorm::per_channel(&mut store, "a", 8, 2).unwrap();
        let x = Array2::from_shape_fn((5, 8), |(i, j)| {
            if j < 4 {
                (i + j) as f64
            } else {
                10.0 - 3.0 * (i * j) as f64
            }
        });
        layer.data_init(&mut store, x.view());
        let mut tape: Tape = Tape::new();
        let xv = tape.constant(x);
        let (y, ld) = layer.forward(&mut tape, &store, xv, &Context::default());
        let y = tape.value(y);
        for ch in 0..2 {
            let c = y.slice(ndarray::s![.., ch * 4..(ch + 1) * 4]);
            let mean = c.sum() / 20.0;
            let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 20.0;
            assert!(
                mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
                "{ch}: {mean} {var}"
            );
        }
        let a = store.get(layer.log_scale);
        assert!((tape.value(ld)[[0, 0]] - 4.0 * a.sum()).abs() < 1e-12);
    }
}

//! Space-to-depth (`flows.md` §3, φ⁴): C×H×W → 4C×(H/2)×(W/2), a pure permutation of the
//! vector with zero log-det. Input and output are channel-major (`[c][i][j]`, the lattice's
//! row-major order for C = 1); each 2×2 block of channel c becomes channels 4c + 2a + b in the
//! order (a, b) = (0,0), (0,1), (1,0), (1,1) (project choice, PyTorch's `pixel_unshuffle`).

use crate::FlowError;
use crate::bijector::{Bijector, Context, zero_log_det};
use std::sync::Arc;
use trade_ad::{Float, ParamStore, Tape, Var};

/// The fixed space-to-depth permutation and its inverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceToDepth {
    forward: Arc<Vec<usize>>,
    inverse: Arc<Vec<usize>>,
}

impl SpaceToDepth {
    /// The map for a `channels`×`height`×`width` input (height and width even).
    ///
    /// ```
    /// use trade_flows::layers::SpaceToDepth;
    /// let s = SpaceToDepth::new(1, 4, 4).unwrap();
    /// // Output channel 1 (offset (0, 1)) at block (0, 0) is input site (0, 1).
    /// assert_eq!(s.source_of(4), 1);
    /// ```
    pub fn new(channels: usize, height: usize, width: usize) -> Result<Self, FlowError> {
        if channels == 0 {
            return Err(FlowError::out_of_range(
                "space_to_depth.channels",
                channels,
                "≥ 1",
            ));
        }
        if height == 0 || height % 2 != 0 || width == 0 || width % 2 != 0 {
            return Err(FlowError::out_of_range(
                "space_to_depth.height/width",
                format!("{height}×{width}"),
                "both even and ≥ 2",
            ));
        }
        let (h2, w2) = (height / 2, width / 2);
        let mut forward = Vec::with_capacity(channels * height * width);
        for c in 0..channels {
            for a in 0..2 {
                for b in 0..2 {
                    for i in 0..h2 {
                        for j in 0..w2 {
                            forward.push(c * height * width + (2 * i + a) * width + 2 * j + b);
                        }
                    }
                }
            }
        }
        let mut inverse = vec![0; forward.len()];
        for (out, &src) in forward.iter().enumerate() {
            inverse[src] = out;
        }
        Ok(Self {
            forward: Arc::new(forward),
            inverse: Arc::new(inverse),
        })
    }

    /// The input column that output column `j` takes.
    pub fn source_of(&self, j: usize) -> usize {
        self.forward[j]
    }
}

impl<F: Float> Bijector<F> for SpaceToDepth {
    fn dim(&self) -> usize {
        self.forward.len()
    }

    fn forward(&self, tape: &mut Tape<F>, _: &ParamStore<F>, x: Var, _: &Context) -> (Var, Var) {
        let y = tape.gather_cols_shared(x, self.forward.clone());
        (y, zero_log_det(tape, x))
    }

    fn inverse(&self, tape: &mut Tape<F>, _: &ParamStore<F>, z: Var, _: &Context) -> (Var, Var) {
        let x = tape.gather_cols_shared(z, self.inverse.clone());
        (x, zero_log_det(tape, z))
    }

    fn ignores_context(&self) -> bool {
        true
    }

    fn constant_log_det(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_by_eight_blocks_in_spec_order() {
        let s = SpaceToDepth::new(1, 8, 8).unwrap();
        // Output (channel, i, j) at column ch·16 + i·4 + j takes site (2i + a, 2j + b).
        for (ch, (a, b)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
            for i in 0..4 {
                for j in 0..4 {
                    assert_eq!(
                        s.source_of(ch * 16 + i * 4 + j),
                        (2 * i + a) * 8 + 2 * j + b
                    );
                }
            }
        }
        let mut seen = s.forward.to_vec();
        seen.sort_unstable();
        assert_eq!(seen, (0..64).collect::<Vec<_>>());
    }

    #[test]
    fn odd_sizes_are_rejected_by_name() {
        let e = SpaceToDepth::new(1, 7, 8).unwrap_err().to_string();
        assert_eq!(
            e,
            "config field space_to_depth.height/width = 7×8 is out of range: allowed both even and ≥ 2"
        );
    }
}

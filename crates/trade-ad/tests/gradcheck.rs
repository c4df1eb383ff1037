//! The op table: every op's reverse rule, tangent rule and mixed second order against the one
//! finite-difference oracle (`trade_ad::testing`). The match on `OpKind` is exhaustive, so a
//! new op cannot be added without a case here.

use ndarray::{Array2, Axis, array};
use std::sync::Arc;
use trade_ad::testing::{gradcheck, second_order_check, tangent_check};
use trade_ad::{CustomOp, OpKind, Tape, Var};

type F = Box<dyn Fn(&mut Tape<f64>, &[Var]) -> Var>;

struct Case {
    name: String,
    inputs: Vec<Array2<f64>>,
    f: F,
}

fn case(
    name: &str,
    inputs: Vec<Array2<f64>>,
    f: impl Fn(&mut Tape<f64>, &[Var]) -> Var + 'static,
) -> Case {
    Case {
        name: name.to_string(),
        inputs,
        f: Box::new(f),
    }
}

/// A deterministic (r, c) array with values in `lo..hi`, irregular so that no two are equal.
fn grid(r: usize, c: usize, lo: f64, hi: f64) -> Array2<f64> {
    Array2::from_shape_fn((r, c), |(i, j)| {
        let u = ((i * 7 + j * 13 + 3) as f64 * 0.618_033_988_75).fract();
        lo + (hi - lo) * u
    })
}

/// y = x³, for the custom-op row.
struct Cube;
impl CustomOp<f64> for Cube {
    fn name(&self) -> &str {
        "cube"
    }
    fn forward(&self, x: &[ndarray::ArrayView2<f64>]) -> Array2<f64> {
        x[0].mapv(|v| v * v * v)
    }
    fn vjp(
        &self,
        x: &[ndarray::ArrayView2<f64>],
        _y: ndarray::ArrayView2<f64>,
        g: ndarray::ArrayView2<f64>,
    ) -> Vec<Option<Array2<f64>>> {
        vec![Some(&g * &x[0].mapv(|v| 3.0 * v * v))]
    }
    fn jvp(&self, t: &mut Tape<f64>, x: &[Var], _y: Var, dx: &[Option<Var>]) -> Option<Var> {
        let d = dx[0]?;
        let sq = t.square(x[0]);
        let s = t.scale(sq, 3.0);
        Some(t.mul(s, d))
    }
}

fn unary(name: &str, lo: f64, hi: f64, f: fn(&mut Tape<f64>, Var) -> Var) -> Vec<Case> {
    vec![case(name, vec![grid(4, 3, lo, hi)], move |t, v| f(t, v[0]))]
}

fn cases(kind: OpKind) -> Vec<Case> {
    let (lo, hi) = (-2.0, 2.0);
    match kind {
        OpKind::Neg => unary("neg", lo, hi, |t, x| t.neg(x)),
        OpKind::Exp => unary("exp", lo, hi, |t, x| t.exp(x)),
        OpKind::Log => unary("log", 0.3, 3.0, |t, x| t.log(x)),
        OpKind::Log1p => unary("log1p", -0.5, 3.0, |t, x| t.log1p(x)),
        OpKind::Tanh => unary("tanh", lo, hi, |t, x| t.tanh(x)),
        OpKind::Sigmoid => unary("sigmoid", -4.0, 4.0, |t, x| t.sigmoid(x)),
        OpKind::Softplus => unary("softplus", -4.0, 4.0, |t, x| t.softplus(x)),
        OpKind::Silu => unary("silu", -4.0, 4.0, |t, x| t.silu(x)),
        OpKind::SiluTangent => vec![case(
            "silu_tangent",
            vec![grid(4, 3, -4.0, 4.0), grid(4, 3, -1.5, 1.5)],
            |t, v| t.silu_tangent(v[0], v[1]),
        )],
        OpKind::Relu => unary("relu", 0.1, 2.0, |t, x| t.relu(x))
            .into_iter()
            .chain(unary("relu-negative", -2.0, -0.1, |t, x| t.relu(x)))
            .collect(),
        OpKind::Atan => unary("atan", lo, hi, |t, x| t.atan(x)),
        OpKind::Sqrt => unary("sqrt", 0.3, 3.0, |t, x| t.sqrt(x)),
        OpKind::Square => unary("square", lo, hi, |t, x| t.square(x)),
        OpKind::Abs => unary("abs", 0.1, 2.0, |t, x| t.abs(x))
            .into_iter()
            .chain(unary("abs-negative", -2.0, -0.1, |t, x| t.abs(x)))
            .collect(),
        OpKind::Recip => unary("recip", 0.3, 3.0, |t, x| t.recip(x)),
        OpKind::Powi => vec![
            case("powi3", vec![grid(4, 3, lo, hi)], |t, v| t.powi(v[0], 3)),
            case("powi-2", vec![grid(4, 3, 0.5, 2.0)], |t, v| {
                t.powi(v[0], -2)
            }),
        ],
        OpKind::Scale => unary("scale", lo, hi, |t, x| t.scale(x, -1.7)),
        OpKind::AddScalar => unary("add_scalar", lo, hi, |t, x| t.add_scalar(x, 0.3)),
        // Values of x·c stay inside (−1, 1) or outside it, never on the kink.
        OpKind::Clamp => vec![
            case("clamp-inside", vec![grid(4, 3, -0.6, 0.6)], |t, v| {
                t.clamp(v[0], -1.0, 1.0)
            }),
            case("clamp-outside", vec![grid(4, 3, 1.1, 2.0)], |t, v| {
                t.clamp(v[0], -1.0, 1.0)
            }),
        ],
        OpKind::Huber => vec![
            case("huber-quadratic", vec![grid(4, 3, -0.5, 0.5)], |t, v| {
                t.huber(v[0], 1.0)
            }),
            case("huber-linear", vec![grid(4, 3, 1.5, 3.0)], |t, v| {
                t.huber(v[0], 1.0)
            }),
        ],
        OpKind::SmoothL1 => vec![
            case(
                "smooth_l1-quadratic",
                vec![grid(4, 3, -0.5, 0.5)],
                |t, v| t.smooth_l1(v[0], 1.0),
            ),
            case("smooth_l1-linear", vec![grid(4, 3, -3.0, -1.5)], |t, v| {
                t.smooth_l1(v[0], 1.0)
            }),
        ],
        OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div => {
            let op = kind;
            let apply = move |t: &mut Tape<f64>, a: Var, b: Var| match op {
                OpKind::Add => t.add(a, b),
                OpKind::Sub => t.sub(a, b),
                OpKind::Mul => t.mul(a, b),
                _ => t.div(a, b),
            };
            let name = format!("{kind:?}").to_lowercase();
            let b = |r, c| grid(r, c, 0.5, 2.0); // positive: safe as a divisor
            vec![
                case(
                    &format!("{name}-same"),
                    vec![grid(4, 3, lo, hi), b(4, 3)],
                    move |t, v| apply(t, v[0], v[1]),
                ),
                case(
                    &format!("{name}-row"),
                    vec![grid(4, 3, lo, hi), b(1, 3)],
                    move |t, v| apply(t, v[0], v[1]),
                ),
                case(
                    &format!("{name}-col"),
                    vec![grid(4, 3, lo, hi), b(4, 1)],
                    move |t, v| apply(t, v[0], v[1]),
                ),
                case(
                    &format!("{name}-scalar-left"),
                    vec![b(1, 1), b(4, 3)],
                    move |t, v| apply(t, v[0], v[1]),
                ),
            ]
        }
        OpKind::MatMul => vec![case(
            "matmul-all-transposes",
            vec![
                grid(3, 4, lo, hi),
                grid(4, 2, lo, hi),
                grid(4, 3, lo, hi),
                grid(2, 4, lo, hi),
            ],
            |t, v| {
                let (a, b, at, bt) = (v[0], v[1], v[2], v[3]);
                let y1 = t.matmul(a, b);
                let y2 = t.matmul_t(a, bt, false, true);
                let y3 = t.matmul_t(at, b, true, false);
                let y4 = t.matmul_t(at, bt, true, true);
                let s = t.add(y1, y2);
                let s = t.add(s, y3);
                let s = t.add(s, y4);
                t.tanh(s) // nonlinear, so the second order sees the product structure
            },
        )],
        OpKind::Sum | OpKind::Mean | OpKind::LogSumExp => {
            let op = kind;
            [None, Some(Axis(0)), Some(Axis(1))]
                .into_iter()
                .map(|axis| {
                    let name = format!("{kind:?}-{axis:?}").to_lowercase();
                    case(&name, vec![grid(4, 3, lo, hi)], move |t, v| {
                        let x = t.sin_like(v[0]);
                        match op {
                            OpKind::Sum => t.sum(x, axis),
                            OpKind::Mean => t.mean(x, axis),
                            _ => t.logsumexp(x, axis),
                        }
                    })
                })
                .collect()
        }
        OpKind::Softmax => vec![case("softmax", vec![grid(4, 5, lo, hi)], |t, v| {
            t.softmax(v[0])
        })],
        OpKind::CumSum => vec![
            case("cumsum-rows", vec![grid(4, 3, lo, hi)], |t, v| {
                let s = t.cumsum(v[0], Axis(1));
                t.square(s)
            }),
            case("cumsum-cols", vec![grid(4, 3, lo, hi)], |t, v| {
                let s = t.cumsum(v[0], Axis(0));
                t.square(s)
            }),
        ],
        OpKind::Reshape => vec![case("reshape", vec![grid(4, 3, lo, hi)], |t, v| {
            let r = t.reshape(v[0], (2, 6));
            t.square(r)
        })],
        OpKind::Broadcast => vec![
            case("broadcast-row", vec![grid(1, 3, lo, hi)], |t, v| {
                let b = t.broadcast(v[0], (4, 3));
                t.square(b)
            }),
            case("broadcast-col", vec![grid(4, 1, lo, hi)], |t, v| {
                let b = t.broadcast(v[0], (4, 3));
                t.square(b)
            }),
        ],
        OpKind::SliceCols => vec![case("slice_cols", vec![grid(4, 5, lo, hi)], |t, v| {
            let s = t.slice_cols(v[0], 1, 4);
            t.square(s)
        })],
        OpKind::ConcatCols => vec![case(
            "concat_cols",
            vec![grid(4, 2, lo, hi), grid(4, 3, lo, hi)],
            |t, v| {
                let s = t.concat_cols(&[v[0], v[1], v[0]]);
                t.square(s)
            },
        )],
        OpKind::GatherCols => vec![case("gather_cols", vec![grid(4, 5, lo, hi)], |t, v| {
            let s = t.gather_cols(v[0], &[4, 0, 2, 2, 1]);
            t.square(s)
        })],
        OpKind::TakeAlongRows => vec![case("take_along_rows", vec![grid(3, 5, lo, hi)], |t, v| {
            let idx = array![[0, 4], [2, 2], [3, 1]];
            let s = t.take_along_rows(v[0], idx);
            t.square(s)
        })],
        OpKind::Where => vec![case(
            "select",
            vec![grid(3, 4, lo, hi), grid(3, 4, lo, hi)],
            |t, v| {
                let mask = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) % 2 == 0);
                let a = t.square(v[0]);
                let s = t.select(mask, a, v[1]);
                t.tanh(s)
            },
        )],
        OpKind::Custom => vec![case("custom-cube", vec![grid(4, 3, lo, hi)], |t, v| {
            t.custom(Arc::new(Cube), &[v[0]])
        })],
    }
}

/// Helper used by the reduction rows: a smooth nonlinearity so that sums have curvature.
trait SinLike {
    fn sin_like(&mut self, x: Var) -> Var;
}
impl SinLike for Tape<f64> {
    fn sin_like(&mut self, x: Var) -> Var {
        let s = self.tanh(x);
        self.mul(s, x)
    }
}

/// The same case with every input scaled by a scalar condition c: `f(x₁c, x₂c, …)`.
fn with_condition(f: &F) -> impl Fn(&mut Tape<f64>, &[Var], Var) -> Var + '_ {
    move |t, vars, c| {
        let scaled: Vec<Var> = vars.iter().map(|&v| t.mul(v, c)).collect();
        f(t, &scaled)
    }
}

fn all_cases() -> Vec<Case> {
    OpKind::ALL.iter().flat_map(|&k| cases(k)).collect()
}

#[test]
fn every_op_kind_has_a_case() {
    for k in OpKind::ALL {
        assert!(!cases(k).is_empty(), "{k:?} has no gradient-check case");
    }
}

#[test]
fn first_order_every_op() {
    for c in all_cases() {
        let r = gradcheck(&*c.f, &c.inputs, 1e-6).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert!(r.max_error <= 1e-6, "{}", c.name);
    }
}

#[test]
fn tangent_every_op() {
    let cond = array![[1.15]];
    for c in all_cases() {
        let g = with_condition(&c.f);
        tangent_check(&g, &c.inputs, &cond, 1e-6).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    }
}

#[test]
fn second_order_every_op() {
    let cond = array![[1.15]];
    for c in all_cases() {
        let g = with_condition(&c.f);
        second_order_check(&g, &c.inputs, &cond, 1e-6, 1e-5)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    }
}

//! `Flow`: a base [`Distribution`] pushed through a [`Chain`] of bijectors, built from a
//! [`FlowConfig`]. Conditioning (`flows.md` §4): `log c` (or a learned embedding, or the
//! Flows-for-Flows context h) into the couplings, raw c into the base and the final conditional
//! affine, y concatenated. In transport mode (Delta/Concat) each row is routed individually:
//! forward with h(c, c′) if c′ ≥ c, else the inverse with h(c′, c); the base sees c′.

use crate::FlowError;
use crate::base::Gaussian;
use crate::bijector::{Bijector, Chain, Context};
use crate::conditioner::{Conditioner, ConditionerConfig, InitScheme};
use crate::config::{
    BaseConfig, ConditionConfig, ConditionInput, FlowConfig, LayerConfig, PermutationKind,
};
use crate::distribution::{Condition, Distribution, check_condition, check_input};
use crate::ic_prior::IcPrior;
use crate::layers::{
    ActNorm, Affine, CircularShift, Clamp, ConditionalAffine, Coupling, GlobalScaling, Groups,
    MaskedCoupling, Orthogonal, Permutation, RqSpline, SpaceToDepth, UnitClamp, UnitSpline,
};
use ndarray::Array2;
use rand::{Rng, RngCore};
use std::sync::Arc;
use trade_ad::{Activation, Float, ParamId, ParamStore, Tape, Var};

/// A conditional normalizing flow: `log p(x|c) = log p_Z(f(x; c) | c) + log|det ∂f/∂x|`.
///
/// Parameters live in a [`ParamStore`] the flow was built into (under a name prefix); every
/// method takes that store. See the crate docs for an end-to-end example.
///
/// `F` is the element type of the tape and store (f64 by default; f32 for the faster
/// first-order path, usually obtained by [`FlowModel::cast`](crate::FlowModel::cast)).
#[derive(Debug)]
pub struct Flow<F: Float = f64> {
    dim: usize,
    augmentation_dims: usize,
    condition: ConditionConfig,
    embedding: Option<Conditioner>,
    chain: Chain<F>,
    base: Box<dyn Distribution<F>>,
}

/// Build-time state: the store, the RNG, a running layer counter, the shared clamp.
struct Builder<'a, F: Float, R: Rng + ?Sized> {
    store: &'a mut ParamStore<F>,
    rng: &'a mut R,
    prefix: &'a str,
    dim: usize,
    ctx_width: usize,
    raw_width: usize,
    counter: usize,
    shared_clamp: Option<ParamId>,
}

impl<F: Float, R: Rng + ?Sized> Builder<'_, F, R> {
    fn clamp(&mut self, clamp: f64, learnable: bool) -> Result<Clamp, FlowError> {
        if !learnable {
            return Ok(Clamp::Fixed(clamp));
        }
        if let Some(id) = self.shared_clamp {
            return Ok(Clamp::Learnable(id));
        }
        let name = format!("{}clamp", self.prefix);
        let id = self
            .store
            .add_value(&name, Array2::from_elem((1, 1), F::c(clamp)))?;
        self.shared_clamp = Some(id);
        Ok(Clamp::Learnable(id))
    }

    fn coupling<T: crate::layers::CouplingTransform<F> + 'static>(
        &mut self,
        transform: T,
        name: &str,
        conditioner: &ConditionerConfig,
    ) -> Result<Box<dyn Bijector<F>>, FlowError> {
        let shape = (self.dim, self.ctx_width);
        let layer = Coupling::new(transform, self.store, name, shape, conditioner, self.rng)?;
        Ok(Box::new(layer))
    }

    fn layer(
        &mut self,
        config: &LayerConfig,
        out: &mut Vec<Box<dyn Bijector<F>>>,
    ) -> Result<(), FlowError> {
        let name = format!("{}{}", self.prefix, self.counter);
        self.counter += 1;
        let layer: Box<dyn Bijector<F>> = match config {
            LayerConfig::AffineCoupling {
                conditioner,
                clamp,
                learnable_clamp,
            } => {
                let clamp = self.clamp(*clamp, *learnable_clamp)?;
                self.coupling(Affine::glow(clamp), &format!("{name}.affine"), conditioner)?
            }
            LayerConfig::GinCoupling { conditioner, clamp } => {
                let t = Affine::gin(Clamp::Fixed(*clamp));
                self.coupling(t, &format!("{name}.gin"), conditioner)?
            }
            LayerConfig::RqCoupling {
                conditioner,
                bins,
                bound,
                min_bin,
            } => {
                let t = RqSpline {
                    bins: *bins,
                    bound: *bound,
                    min_bin: *min_bin,
                };
                self.coupling(t, &format!("{name}.rq"), conditioner)?
            }
            LayerConfig::UnitSplineCoupling {
                conditioner,
                transformed,
                conditioning,
                bins,
                circular,
                min_bin,
                min_derivative,
            } => {
                let t = UnitSpline {
                    bins: *bins,
                    min_bin: *min_bin,
                    min_derivative: *min_derivative,
                    circular: *circular,
                };
                let groups = Groups {
                    transformed: transformed.clone(),
                    conditioning: conditioning.clone(),
                };
                Box::new(MaskedCoupling::new(
                    t,
                    self.store,
                    &format!("{name}.unit_rq"),
                    (self.dim, self.ctx_width),
                    &groups,
                    conditioner,
                    self.rng,
                )?)
            }
            LayerConfig::CircularShift { dims } => Box::new(CircularShift::random(
                self.store,
                &format!("{name}.shift"),
                self.dim,
                dims,
                self.rng,
            )?),
            LayerConfig::UnitClamp => Box::new(UnitClamp::new(self.dim)),
            LayerConfig::ActNorm => Box::new(ActNorm::new(
                self.store,
                &format!("{name}.actnorm"),
                self.dim,
            )?),
            LayerConfig::Permutation { kind } => {
                let n = format!("{name}.perm");
                Box::new(match kind {
                    PermutationKind::Random => {
                        Permutation::random(self.store, &n, self.dim, self.rng)?
                    }
                    PermutationKind::Reverse => Permutation::reverse(self.store, &n, self.dim)?,
                })
            }
            LayerConfig::Orthogonal => Box::new(Orthogonal::random(
                self.store,
                &format!("{name}.orth"),
                self.dim,
                self.rng,
            )?),
            LayerConfig::ConditionalAffine { conditioner } => Box::new(ConditionalAffine::new(
                self.store,
                &format!("{name}.cond_affine"),
                (self.dim, self.raw_width),
                conditioner,
                self.rng,
            )?),
            LayerConfig::GlobalScaling { conditioner } => Box::new(GlobalScaling::new(
                self.store,
                &format!("{name}.global_scaling"),
                (self.dim, self.ctx_width),
                conditioner,
                self.rng,
            )?),
            LayerConfig::SpaceToDepth {
                channels,
                height,
                width,
            } => Box::new(SpaceToDepth::new(*channels, *height, *width)?),
            LayerConfig::ChannelActNorm { channels } => Box::new(ActNorm::per_channel(
                self.store,
                &format!("{name}.actnorm"),
                self.dim,
                *channels,
            )?),
            LayerConfig::ChannelPermutation { channels } => Box::new(Permutation::random_channels(
                self.store,
                &format!("{name}.perm"),
                self.dim,
                *channels,
                self.rng,
            )?),
            LayerConfig::Repeat { count, layers } => {
                self.counter -= 1;
                for _ in 0..*count {
                    for l in layers {
                        self.layer(l, out)?;
                    }
                }
                return Ok(());
            }
        };
        out.push(layer);
        Ok(())
    }
}

impl<F: Float> Flow<F> {
    /// Validates `config` and registers every parameter in `store` under `prefix`, drawing
    /// initial values and permutations from `rng`. A flow base is built under
    /// `{prefix}base.` and frozen. Every value is drawn in f64 and converted to `F`, so the
    /// same seed gives the same parameters (rounded) for every element type.
    pub fn build<R: Rng + ?Sized>(
        config: &FlowConfig,
        store: &mut ParamStore<F>,
        prefix: &str,
        rng: &mut R,
    ) -> Result<Self, FlowError> {
        config.validate()?;
        let dim = config.flow_dim();
        let embedding = match &config.condition.input {
            ConditionInput::Embedding { hidden, .. } => {
                let net = ConditionerConfig::Mlp {
                    hidden: hidden.clone(),
                    activation: Activation::Silu,
                    init: InitScheme::Xavier,
                    zero_last: false,
                };
                Some(Conditioner::build(
                    &net,
                    store,
                    &format!("{prefix}embedding"),
                    (1, 1),
                    rng,
                )?)
            }
            _ => None,
        };
        let mut builder = Builder {
            store,
            rng,
            prefix,
            dim,
            ctx_width: config.condition.coupling_width(),
            raw_width: config.condition.raw_width(),
            counter: 0,
            shared_clamp: None,
        };
        let mut layers = Vec::new();
        for l in &config.layers {
            builder.layer(l, &mut layers)?;
        }
        let base: Box<dyn Distribution<F>> = match &config.base {
            BaseConfig::Gaussian { scaling } => Box::new(Gaussian::new(dim, *scaling)),
            BaseConfig::IcPrior {
                truncated,
                loc,
                scale,
            } => Box::new(IcPrior::new(dim, *truncated, *loc, *scale)?),
            BaseConfig::Flow { flow } => {
                let first = store.len();
                let base = Flow::build(flow, store, &format!("{prefix}base."), rng)?;
                let new: Vec<ParamId> = store.ids().skip(first).collect();
                for id in new {
                    store.set_trainable(id, false);
                }
                Box::new(base)
            }
        };
        Ok(Self {
            dim,
            augmentation_dims: config.augmentation_dims,
            condition: config.condition.clone(),
            embedding,
            chain: Chain::new(layers),
            base,
        })
    }

    /// A flow from its parts (custom layers or bases): `chain` maps data → latent.
    pub fn from_parts(
        condition: ConditionConfig,
        chain: Chain<F>,
        base: Box<dyn Distribution<F>>,
    ) -> Self {
        let dim = base.dim();
        assert!(
            chain.is_empty() || chain.dim() == dim,
            "Flow::from_parts: chain dim {} vs base dim {dim}",
            chain.dim()
        );
        assert!(
            !matches!(condition.input, ConditionInput::Embedding { .. }),
            "Flow::from_parts: build embeddings from a config"
        );
        Self {
            dim,
            augmentation_dims: 0,
            condition,
            embedding: None,
            chain,
            base,
        }
    }

    /// Number of augmentation dimensions (the last ones of the flow's vector).
    pub fn augmentation_dims(&self) -> usize {
        self.augmentation_dims
    }

    /// The bijector chain (data → latent).
    pub fn chain(&self) -> &Chain<F> {
        &self.chain
    }

    /// The base distribution.
    pub fn base(&self) -> &dyn Distribution<F> {
        self.base.as_ref()
    }

    /// The conditioning this flow expects.
    pub fn condition_config(&self) -> &ConditionConfig {
        &self.condition
    }

    /// True for a temperature-steerable flow: no c-input anywhere in the map, x-independent
    /// log-det, and a base whose c-dependence is N(0, c·I) (`flows.md` §10).
    pub fn is_temperature_steerable(&self) -> bool {
        self.condition.input == ConditionInput::None
            && self.condition.y_dim == 0
            && self.chain.ignores_context()
            && self.chain.constant_log_det()
    }

    /// Checks x and the condition at the door; returns n.
    fn check(&self, tape: &Tape<F>, x: Var, cond: &Condition) -> Result<usize, FlowError> {
        let n = check_input(tape, "x", x, self.dim)?;
        self.check_condition(tape, cond, n)?;
        Ok(n)
    }

    fn check_condition(&self, tape: &Tape<F>, cond: &Condition, n: usize) -> Result<(), FlowError> {
        let input = &self.condition.input;
        if *input != ConditionInput::None {
            let c = cond.c.ok_or(FlowError::MissingCondition("c"))?;
            let log_used = matches!(
                input,
                ConditionInput::LogC | ConditionInput::Embedding { .. }
            );
            check_condition(tape, "c", c, (n, 1), log_used)?;
        }
        if input.is_transport() {
            let ct = cond
                .c_target
                .ok_or(FlowError::MissingCondition("c_target (Flows for Flows)"))?;
            check_condition(tape, "c_target", ct, (n, 1), false)?;
        }
        if self.condition.y_dim > 0 {
            let y = cond.y.ok_or(FlowError::MissingCondition("y"))?;
            check_condition(tape, "y", y, (n, self.condition.y_dim), false)?;
        }
        Ok(())
    }

    /// The context for condition `cond`; `swapped` exchanges c and c′ (transport inverse rule).
    fn context(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        cond: &Condition,
        swapped: bool,
    ) -> Context {
        let (c, ct) = if swapped {
            (cond.c_target, cond.c)
        } else {
            (cond.c, cond.c_target)
        };
        let with_y = |tape: &mut Tape<F>, f: Option<Var>| match (f, cond.y) {
            (Some(f), Some(y)) => Some(tape.concat_cols(&[f, y])),
            (Some(f), None) => Some(f),
            (None, y) => y,
        };
        let (coupling, raw) = match &self.condition.input {
            ConditionInput::None => (None, None),
            ConditionInput::LogC => {
                let c = c.expect("checked");
                (Some(tape.log(c)), Some(c))
            }
            ConditionInput::Embedding { standardise, .. } => {
                let c = c.expect("checked");
                let mut lc = tape.log(c);
                if let Some(s) = standardise {
                    let centred = tape.add_scalar(lc, -s.centre);
                    lc = tape.scale(centred, 1.0 / s.scale);
                }
                let net = self.embedding.as_ref().expect("built with the config");
                let e = net.forward(tape, store, lc);
                (Some(tape.add(e, lc)), Some(c))
            }
            ConditionInput::Delta => {
                let h = tape.sub(ct.expect("checked"), c.expect("checked"));
                (Some(h), Some(h))
            }
            ConditionInput::Concat => {
                let h = tape.concat_cols(&[c.expect("checked"), ct.expect("checked")]);
                (Some(h), Some(h))
            }
        };
        Context {
            coupling: with_y(tape, coupling),
            raw: with_y(tape, raw),
        }
    }

    /// Rows that take the forward map in transport mode (c′ ≥ c); `None` outside it.
    fn forward_rows(&self, tape: &Tape<F>, cond: &Condition) -> Option<Vec<bool>> {
        if !self.condition.input.is_transport() {
            return None;
        }
        let (c, ct) = (cond.c.expect("checked"), cond.c_target.expect("checked"));
        let rows = tape
            .value(c)
            .iter()
            .zip(tape.value(ct).iter())
            .map(|(&a, &b)| b - a >= F::zero())
            .collect();
        Some(rows)
    }

    /// Applies `forward` (true) or `inverse` of the chain, routing rows in transport mode.
    fn route(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        v: Var,
        cond: &Condition,
        data_to_latent: bool,
    ) -> (Var, Var) {
        let apply = |tape: &mut Tape<F>, forward: bool, swapped: bool| {
            let ctx = self.context(tape, store, cond, swapped);
            if forward {
                self.chain.forward(tape, store, v, &ctx)
            } else {
                self.chain.inverse(tape, store, v, &ctx)
            }
        };
        let Some(rows) = self.forward_rows(tape, cond) else {
            return apply(tape, data_to_latent, false);
        };
        let all = rows.iter().all(|&r| r);
        let none = rows.iter().all(|&r| !r);
        if all {
            return apply(tape, data_to_latent, false);
        }
        if none {
            return apply(tape, !data_to_latent, true);
        }
        let (a, lda) = apply(tape, data_to_latent, false);
        let (b, ldb) = apply(tape, !data_to_latent, true);
        let n = rows.len();
        let mask_v = Arc::new(Array2::from_shape_fn((n, self.dim), |(i, _)| rows[i]));
        let mask_l = Arc::new(Array2::from_shape_fn((n, 1), |(i, _)| rows[i]));
        (
            tape.where_shared(mask_v, a, b),
            tape.where_shared(mask_l, lda, ldb),
        )
    }

    /// The condition the base is evaluated at: c′ in transport mode, else c.
    fn base_condition(&self, cond: &Condition) -> Condition {
        if self.condition.input.is_transport() {
            Condition {
                c: cond.c_target,
                c_target: None,
                y: cond.y,
            }
        } else {
            *cond
        }
    }

    /// z = f(x; c) (data → latent) and log|det ∂z/∂x| per row. In transport mode this is the
    /// map from condition c to c′ (the Flows-for-Flows transport; the inverse rule applies).
    pub fn transform(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        cond: &Condition,
    ) -> Result<(Var, Var), FlowError> {
        self.check(tape, x, cond)?;
        Ok(self.route(tape, store, x, cond, true))
    }

    /// x = f⁻¹(z; c) (latent → data) and log|det ∂x/∂z| per row.
    pub fn inverse_transform(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        z: Var,
        cond: &Condition,
    ) -> Result<(Var, Var), FlowError> {
        self.check(tape, z, cond)?;
        Ok(self.route(tape, store, z, cond, false))
    }

    /// Data-dependent initialisation of every ActNorm from the batch `x` (n, d) with plain
    /// condition values (`c`: (n, 1), `y`: (n, y_dim)). Couples samples: call it once before
    /// training, never inside a TRADE step.
    pub fn data_init(
        &self,
        store: &mut ParamStore<F>,
        x: &Array2<F>,
        c: Option<&Array2<F>>,
        y: Option<&Array2<F>>,
    ) -> Result<(), FlowError> {
        let mut h = x.clone();
        for layer in self.chain.layers() {
            layer.data_init(store, h.view());
            let mut tape: Tape<F> = Tape::new();
            let cond = Condition {
                c: c.map(|c| tape.constant(c.clone())),
                c_target: None,
                y: y.map(|y| tape.constant(y.clone())),
            };
            let hv = tape.constant(h.clone());
            self.check(&tape, hv, &cond)?;
            let ctx = self.context(&mut tape, store, &cond, false);
            let (out, _) = layer.forward(&mut tape, store, hv, &ctx);
            h = tape.value(out).to_owned();
        }
        Ok(())
    }
}

impl<F: Float> Distribution<F> for Flow<F> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn log_prob(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        x: Var,
        cond: &Condition,
    ) -> Result<Var, FlowError> {
        let (z, log_det) = self.transform(tape, store, x, cond)?;
        let base_cond = self.base_condition(cond);
        let lp = self.base.log_prob(tape, store, z, &base_cond)?;
        Ok(tape.add(lp, log_det))
    }

    fn sample_with_log_prob(
        &self,
        tape: &mut Tape<F>,
        store: &ParamStore<F>,
        n_samples: usize,
        cond: &Condition,
        rng: &mut dyn RngCore,
    ) -> Result<(Var, Var), FlowError> {
        self.check_condition(tape, cond, n_samples)?;
        let base_cond = self.base_condition(cond);
        let (z, lp) = self
            .base
            .sample_with_log_prob(tape, store, n_samples, &base_cond, rng)?;
        let (x, log_det_inv) = self.route(tape, store, z, cond, false);
        Ok((x, tape.sub(lp, log_det_inv)))
    }
}

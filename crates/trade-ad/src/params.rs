//! The named parameter store: explicit seeded initialisation, shared values, exact save/load.

use crate::{AdError, Float};
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Handle to a parameter of a [`ParamStore`]; stable for the store's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ParamId(pub(crate) usize);

impl ParamId {
    /// Position of the parameter in its store (registration order).
    pub fn index(self) -> usize {
        self.0
    }
}

/// How a new parameter is filled. Every variant that draws uses the RNG passed to
/// [`ParamStore::add`]; nothing reads a global RNG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros (identity-start last layers, biases).
    Zeros,
    /// A constant.
    Constant(f64),
    /// U(−a, a).
    Uniform(f64),
    /// N(0, σ²).
    Normal(f64),
    /// Xavier/Glorot normal for an (in × out) weight: σ = gain·√(2/(in+out)).
    XavierNormal {
        /// Gain factor (1 for linear/SiLU in the reference code).
        gain: f64,
    },
    /// PyTorch `nn.Linear` default for an (in × out) weight or (1 × out) bias with fan-in `in`:
    /// U(−1/√in, 1/√in) (kaiming-uniform with a = √5 reduces to this bound).
    TorchLinear {
        /// Fan-in of the layer.
        fan_in: usize,
    },
}

impl Init {
    fn draw<F: Float, R: Rng + ?Sized>(self, shape: (usize, usize), rng: &mut R) -> Array2<F> {
        let normal = |rng: &mut R, s: f64| -> F {
            let z: f64 = StandardNormal.sample(rng);
            F::c(s * z)
        };
        match self {
            Init::Zeros => Array2::zeros(shape),
            Init::Constant(v) => Array2::from_elem(shape, F::c(v)),
            Init::Uniform(a) => {
                Array2::from_shape_simple_fn(shape, || F::c(rng.random_range(-a..=a)))
            }
            Init::Normal(s) => Array2::from_shape_simple_fn(shape, || normal(rng, s)),
            Init::XavierNormal { gain } => {
                let s = gain * (2.0 / (shape.0 + shape.1) as f64).sqrt();
                Array2::from_shape_simple_fn(shape, || normal(rng, s))
            }
            Init::TorchLinear { fan_in } => {
                let a = 1.0 / (fan_in.max(1) as f64).sqrt();
                Array2::from_shape_simple_fn(shape, || F::c(rng.random_range(-a..=a)))
            }
        }
    }
}

/// Named, ordered parameters. Values are shared (`Arc`) with tapes, so recording a parameter
/// never copies it; an optimiser update copies only if a tape still holds the old value.
///
/// ```
/// use trade_ad::{Init, ParamStore};
/// use rand::SeedableRng;
///
/// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
/// let mut store = ParamStore::<f64>::new();
/// let w = store.add("layer0.weight", (4, 8), Init::XavierNormal { gain: 1.0 }, &mut rng).unwrap();
/// assert_eq!(store.get(w).dim(), (4, 8));
/// assert_eq!(store.id("layer0.weight"), Some(w));
/// let json = store.to_json();
/// let back = ParamStore::<f64>::from_json(&json).unwrap();
/// assert_eq!(back.get(w), store.get(w));
/// ```
#[derive(Debug)]
pub struct ParamStore<F: Float = f64> {
    /// Identity of this store on a tape (two stores never share cached parameter nodes).
    uid: u64,
    names: Vec<String>,
    values: Vec<Arc<Array2<F>>>,
    trainable: Vec<bool>,
}

#[derive(Serialize, Deserialize)]
struct SavedParam {
    name: String,
    shape: (usize, usize),
    trainable: bool,
    values: Vec<f64>,
}

static NEXT_STORE_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_uid() -> u64 {
    NEXT_STORE_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl<F: Float> Default for ParamStore<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// A clone is a new store (its own identity on tapes) sharing the values copy-on-write.
impl<F: Float> Clone for ParamStore<F> {
    fn clone(&self) -> Self {
        Self {
            uid: next_uid(),
            names: self.names.clone(),
            values: self.values.clone(),
            trainable: self.trainable.clone(),
        }
    }
}

impl<F: Float> ParamStore<F> {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            uid: next_uid(),
            names: Vec::new(),
            values: Vec::new(),
            trainable: Vec::new(),
        }
    }

    /// Identity of the store: distinct for every store (and every clone) in the process, so
    /// that two stores recorded on one tape never share cached parameter nodes.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// Registers a trainable parameter filled by `init`. Names must be unique.
    pub fn add<R: Rng + ?Sized>(
        &mut self,
        name: &str,
        shape: (usize, usize),
        init: Init,
        rng: &mut R,
    ) -> Result<ParamId, AdError> {
        let value = init.draw(shape, rng);
        self.add_value(name, value)
    }

    /// Registers a trainable parameter with a given value.
    pub fn add_value(&mut self, name: &str, value: Array2<F>) -> Result<ParamId, AdError> {
        if self.id(name).is_some() {
            return Err(AdError::DuplicateParam(name.to_string()));
        }
        self.names.push(name.to_string());
        self.values.push(Arc::new(value));
        self.trainable.push(true);
        Ok(ParamId(self.names.len() - 1))
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True if the store is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Total number of scalars in trainable parameters.
    pub fn n_trainable_scalars(&self) -> usize {
        self.ids()
            .filter(|&id| self.trainable[id.0])
            .map(|id| self.values[id.0].len())
            .sum()
    }

    /// All handles in registration order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + use<F> {
        (0..self.names.len()).map(ParamId)
    }

    /// The handle of a name.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.names.iter().position(|n| n == name).map(ParamId)
    }

    /// The name of a handle.
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }

    /// The value of a parameter.
    pub fn get(&self, id: ParamId) -> &Array2<F> {
        &self.values[id.0]
    }

    /// Mutable value (copy-on-write if a tape still shares it).
    pub fn get_mut(&mut self, id: ParamId) -> &mut Array2<F> {
        Arc::make_mut(&mut self.values[id.0])
    }

    /// The shared value recorded by tapes.
    pub fn shared(&self, id: ParamId) -> Arc<Array2<F>> {
        Arc::clone(&self.values[id.0])
    }

    /// Whether the optimiser updates this parameter (tapes give frozen ones no gradient).
    pub fn is_trainable(&self, id: ParamId) -> bool {
        self.trainable[id.0]
    }

    /// Freezes or unfreezes a parameter (e.g. the base flow of a Flows-for-Flows model).
    pub fn set_trainable(&mut self, id: ParamId, trainable: bool) {
        self.trainable[id.0] = trainable;
    }

    /// Appends every parameter of `other` with `prefix` prepended to its name; returns the
    /// new handle of each of `other`'s parameters in order.
    pub fn extend_prefixed(
        &mut self,
        prefix: &str,
        other: &ParamStore<F>,
    ) -> Result<Vec<ParamId>, AdError> {
        other
            .ids()
            .map(|id| {
                let new = self.add_value(
                    &format!("{prefix}{}", other.name(id)),
                    other.get(id).clone(),
                )?;
                self.trainable[new.0] = other.trainable[id.0];
                Ok(new)
            })
            .collect()
    }

    /// A new store (its own identity on tapes) with the same names, handles, shapes and
    /// trainable flags, every value converted element-wise to `G` through f64 (rounded to
    /// nearest when narrowing: f64 → f32; exact when widening or keeping the type). A flow built
    /// into this store keeps working with the cast one, since handles are positions.
    ///
    /// ```
    /// use trade_ad::{Init, ParamStore};
    /// use rand::SeedableRng;
    ///
    /// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    /// let mut store = ParamStore::<f64>::new();
    /// let w = store.add("w", (2, 3), Init::Normal(1.0), &mut rng).unwrap();
    /// let f32_store: ParamStore<f32> = store.cast();
    /// assert_eq!(f32_store.name(w), "w");
    /// assert_eq!(f32_store.get(w)[[1, 2]], store.get(w)[[1, 2]] as f32);
    /// ```
    pub fn cast<G: Float>(&self) -> ParamStore<G> {
        ParamStore {
            uid: next_uid(),
            names: self.names.clone(),
            values: self
                .values
                .iter()
                .map(|v| Arc::new(v.mapv(|x| G::c(x.f64()))))
                .collect(),
            trainable: self.trainable.clone(),
        }
    }

    /// Serialises names, shapes, trainable flags and values (f64, shortest round-trip text:
    /// loading gives back identical bits).
    pub fn to_json(&self) -> String {
        let saved: Vec<SavedParam> = self
            .ids()
            .map(|id| SavedParam {
                name: self.names[id.0].clone(),
                shape: self.values[id.0].dim(),
                trainable: self.trainable[id.0],
                values: self.values[id.0].iter().map(|v| v.f64()).collect(),
            })
            .collect();
        serde_json::to_string(&saved).expect("parameters serialise")
    }

    /// Parses [`ParamStore::to_json`] output.
    pub fn from_json(json: &str) -> Result<Self, AdError> {
        let saved: Vec<SavedParam> = serde_json::from_str(json)
            .map_err(|e| AdError::ParamFile(format!("not a parameter file: {e}")))?;
        let mut store = Self::new();
        for p in saved {
            if p.values.len() != p.shape.0 * p.shape.1 {
                return Err(AdError::ParamFile(format!(
                    "parameter {:?}: {} values for shape {:?}",
                    p.name,
                    p.values.len(),
                    p.shape
                )));
            }
            let value = Array2::from_shape_vec(p.shape, p.values.into_iter().map(F::c).collect())
                .expect("length checked");
            let id = store.add_value(&p.name, value)?;
            store.trainable[id.0] = p.trainable;
        }
        Ok(store)
    }

    /// Copies values from `other` by name; every name and shape must match exactly.
    pub fn load_values_from(&mut self, other: &ParamStore<F>) -> Result<(), AdError> {
        if other.len() != self.len() {
            return Err(AdError::ParamFile(format!(
                "parameter count: file has {}, model has {}",
                other.len(),
                self.len()
            )));
        }
        for id in other.ids() {
            let name = other.name(id);
            let mine = self
                .id(name)
                .ok_or_else(|| AdError::UnknownParam(name.to_string()))?;
            if self.get(mine).dim() != other.get(id).dim() {
                return Err(AdError::ParamFile(format!(
                    "parameter {name:?}: file shape {:?}, model shape {:?}",
                    other.get(id).dim(),
                    self.get(mine).dim()
                )));
            }
            self.values[mine.0] = other.shared(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn store() -> ParamStore<f64> {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut s = ParamStore::new();
        s.add("a.weight", (3, 4), Init::Normal(1.0), &mut rng)
            .unwrap();
        let b = s
            .add_value("a.bias", Array2::from_elem((1, 4), 0.1))
            .unwrap();
        s.add_value(
            "perm.indices",
            Array2::from_shape_fn((1, 5), |(_, j)| j as f64),
        )
        .unwrap();
        s.set_trainable(b, false);
        s
    }

    #[test]
    fn cast_keeps_handles_names_flags_and_rounds_values() {
        let s = store();
        let c: ParamStore<f32> = s.cast();
        assert_ne!(c.uid(), s.uid());
        assert_eq!(c.len(), s.len());
        for id in s.ids() {
            assert_eq!(c.name(id), s.name(id));
            assert_eq!(c.id(s.name(id)), Some(id));
            assert_eq!(c.is_trainable(id), s.is_trainable(id));
            assert_eq!(c.get(id).dim(), s.get(id).dim());
            for (&x, &y) in s.get(id).iter().zip(c.get(id).iter()) {
                assert_eq!(y.to_bits(), (x as f32).to_bits());
            }
        }
        // Widening back is exact on the f32 values; f64 → f64 is a bit-exact copy.
        let back: ParamStore<f64> = c.cast();
        let same: ParamStore<f64> = s.cast();
        for id in s.ids() {
            for (&x, &y) in c.get(id).iter().zip(back.get(id).iter()) {
                assert_eq!(f64::from(x).to_bits(), y.to_bits());
            }
            for (&x, &y) in s.get(id).iter().zip(same.get(id).iter()) {
                assert_eq!(x.to_bits(), y.to_bits());
            }
        }
    }
}

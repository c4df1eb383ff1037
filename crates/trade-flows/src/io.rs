//! `FlowModel`: a config, the flow built from it and its parameter store, with exact save/load.
//! The config is JSON; the weights are an `.npz` archive (one f64 array per parameter, named
//! as in the store) that NumPy reads with `np.load`. The library never touches the file
//! system: it writes to and reads from any `Write + Seek` / `Read + Seek` the caller opens.
//!
//! A model is built, saved and loaded in f64; [`FlowModel::cast`] (or [`FlowModel::to_f32`])
//! gives the same model with f32 parameters for the faster first-order path.

use crate::FlowError;
use crate::config::FlowConfig;
use crate::flow::Flow;
use ndarray::Array2;
use ndarray_npy::{NpzReader, NpzWriter};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::io::{Read, Seek, Write};
use trade_ad::{Float, ParamStore};

/// A flow with its config and parameters: the unit that is trained, saved and loaded.
///
/// ```
/// use trade_flows::{FlowConfig, FlowModel};
/// use std::io::Cursor;
///
/// let model = FlowModel::new(FlowConfig::multi_well(3, 2, &[8])).unwrap();
/// let mut npz = Cursor::new(Vec::new());
/// model.write_params(&mut npz).unwrap();
/// npz.set_position(0);
/// let back = FlowModel::load(&model.config.to_json(), npz).unwrap();
/// for id in model.params.ids() {
///     assert_eq!(model.params.get(id), back.params.get(id)); // bit-exact
/// }
/// ```
///
/// `F` is the element type (f64 by default). Models are created, saved and loaded in f64;
/// [`FlowModel::cast`] converts a model to another element type (f32 for speed).
#[derive(Debug)]
pub struct FlowModel<F: Float = f64> {
    /// The recipe.
    pub config: FlowConfig,
    /// The built flow (parameter handles into `params`).
    pub flow: Flow<F>,
    /// All parameters (frozen ones included: permutations, a Flows-for-Flows base).
    pub params: ParamStore<F>,
}

impl FlowModel {
    /// Builds the flow with parameters initialised from `Xoshiro256PlusPlus(config.seed)`.
    pub fn new(config: FlowConfig) -> Result<Self, FlowError> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let mut params = ParamStore::new();
        let flow = Flow::build(&config, &mut params, "", &mut rng)?;
        Ok(Self {
            config,
            flow,
            params,
        })
    }

    /// Writes every parameter as an f64 array named like the store entry.
    pub fn write_params<W: Write + Seek>(&self, writer: W) -> Result<(), FlowError> {
        write_npz(&self.params, writer)
    }

    /// Rebuilds from a config JSON and loads the `.npz` weights written by
    /// [`FlowModel::write_params`]: names and shapes must match exactly.
    pub fn load<R: Read + Seek>(config_json: &str, npz: R) -> Result<Self, FlowError> {
        let mut model = Self::new(FlowConfig::from_json(config_json)?)?;
        read_npz_into(&mut model.params, npz)?;
        Ok(model)
    }

    /// Copies the trained parameters of a separately trained base flow into this model's
    /// frozen `base.` parameters (Flows for Flows, step 2).
    pub fn load_base(&mut self, base: &ParamStore) -> Result<(), FlowError> {
        copy_prefixed(&mut self.params, "base.", base)
    }
}

impl<F: Float> FlowModel<F> {
    /// The same model with element type `G`: the flow is rebuilt from the config for `G` and
    /// the parameters are converted element-wise ([`ParamStore::cast`]: rounded to nearest
    /// when narrowing), keeping every handle, name and trainable flag. The result has its own
    /// store; training it does not change `self`.
    ///
    /// f32 is for speed-measured first-order work and for comparison with a float32 PyTorch
    /// model; TRADE itself runs in f64 (`method.md` §4).
    ///
    /// ```
    /// use trade_ad::Tape;
    /// use trade_flows::{Condition, Distribution, FlowConfig, FlowModel};
    /// use ndarray::array;
    ///
    /// let model = FlowModel::new(FlowConfig::multi_well(5, 2, &[16])).unwrap();
    /// let fast = model.to_f32().unwrap(); // FlowModel<f32>
    /// let mut tape: Tape<f32> = Tape::new();
    /// let x = tape.constant(array![[0.1f32, -0.4, 1.2, 0.0, 0.7]]);
    /// let c = tape.condition(array![[0.8f32]]);
    /// let lp = fast.flow.log_prob(&mut tape, &fast.params, x, &Condition::c(c)).unwrap();
    /// assert!(tape.value(lp)[[0, 0]].is_finite());
    /// ```
    pub fn cast<G: Float>(&self) -> Result<FlowModel<G>, FlowError> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.config.seed);
        let mut fresh = ParamStore::<G>::new();
        let flow = Flow::build(&self.config, &mut fresh, "", &mut rng)?;
        let params: ParamStore<G> = self.params.cast();
        if fresh.len() > params.len() {
            return Err(FlowError::File(format!(
                "cast: the config builds {} parameters, the model holds {}",
                fresh.len(),
                params.len()
            )));
        }
        for id in fresh.ids() {
            if fresh.name(id) != params.name(id) || fresh.get(id).dim() != params.get(id).dim() {
                return Err(FlowError::File(format!(
                    "cast: parameter {} is {:?} {:?} in the model, {:?} {:?} from the config",
                    id.index(),
                    params.name(id),
                    params.get(id).dim(),
                    fresh.name(id),
                    fresh.get(id).dim()
                )));
            }
        }
        Ok(FlowModel {
            config: self.config.clone(),
            flow,
            params,
        })
    }

    /// [`FlowModel::cast`] to f32.
    pub fn to_f32(&self) -> Result<FlowModel<f32>, FlowError> {
        self.cast()
    }
}

/// Writes all parameters of `store` to an `.npz` archive.
pub fn write_npz<W: Write + Seek>(store: &ParamStore, writer: W) -> Result<(), FlowError> {
    let err = |e: ndarray_npy::WriteNpzError| FlowError::File(format!("npz write: {e}"));
    let mut npz = NpzWriter::new(writer);
    for id in store.ids() {
        npz.add_array(store.name(id), store.get(id)).map_err(err)?;
    }
    npz.finish().map_err(err)?;
    Ok(())
}

/// Reads an `.npz` archive into `store`: every store entry must be present with its shape,
/// and the archive must hold nothing else.
pub fn read_npz_into<R: Read + Seek>(store: &mut ParamStore, reader: R) -> Result<(), FlowError> {
    let err = |e: ndarray_npy::ReadNpzError| FlowError::File(format!("npz read: {e}"));
    let mut npz = NpzReader::new(reader).map_err(err)?;
    let names = npz.names().map_err(err)?;
    if names.len() != store.len() {
        return Err(FlowError::File(format!(
            "parameter count: file has {}, model has {}",
            names.len(),
            store.len()
        )));
    }
    for id in store.ids().collect::<Vec<_>>() {
        let name = store.name(id).to_string();
        let value: Array2<f64> = npz
            .by_name(&name)
            .map_err(|e| FlowError::File(format!("parameter {name:?}: {e}")))?;
        if value.dim() != store.get(id).dim() {
            return Err(FlowError::File(format!(
                "parameter {name:?}: file shape {:?}, model shape {:?}",
                value.dim(),
                store.get(id).dim()
            )));
        }
        *store.get_mut(id) = value;
    }
    Ok(())
}

/// Copies every parameter of `src` into `dst` under `prefix` (names and shapes must exist).
pub fn copy_prefixed<F: Float>(
    dst: &mut ParamStore<F>,
    prefix: &str,
    src: &ParamStore<F>,
) -> Result<(), FlowError> {
    for id in src.ids() {
        let name = format!("{prefix}{}", src.name(id));
        let mine = dst
            .id(&name)
            .ok_or_else(|| FlowError::File(format!("no parameter {name:?} in the model")))?;
        if dst.get(mine).dim() != src.get(id).dim() {
            return Err(FlowError::File(format!(
                "parameter {name:?}: source shape {:?}, model shape {:?}",
                src.get(id).dim(),
                dst.get(mine).dim()
            )));
        }
        *dst.get_mut(mine) = src.get(id).clone();
    }
    Ok(())
}

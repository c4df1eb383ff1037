//! A trained model on disk: `config.json` (flow config), `params.npz` (weights, readable by
//! NumPy) and `model.json` (which target and condition units it belongs to). This directory is
//! what `cargo xtask model … --checkpoint` accepts.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use trade_flows::FlowModel;

/// What a model directory says about its model beyond the flow itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Experiment that trained it.
    pub experiment: String,
    /// Method name (`nll`, `trade-grid`, …).
    pub method: String,
    /// Target name as in `cargo xtask target`.
    pub target: String,
    /// CLI condition = `condition_scale` × model condition (1 except alanine: 600 K).
    pub condition_scale: f64,
    /// Master seed of the run.
    pub seed: u64,
    /// The flow acts on alanine-dipeptide internal coordinates z (48); the command line reads
    /// and writes Cartesian x (N, 66) nm through the IC transform (default false).
    #[serde(default)]
    pub internal_coordinates: bool,
    /// With `internal_coordinates`: the transform centres torsions on the reference structure
    /// (`IcTransform::with_centred_torsions`; default false).
    #[serde(default)]
    pub centred_torsions: bool,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    trade_core::checkpoint::write_atomic(path, bytes).map_err(Into::into)
}

/// Writes the three files (each atomically).
pub fn save(dir: &Path, model: &FlowModel, meta: &ModelMeta) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut npz = std::io::Cursor::new(Vec::new());
    model.write_params(&mut npz)?;
    write_atomic(&dir.join("params.npz"), npz.get_ref())?;
    write_atomic(&dir.join("config.json"), model.config.to_json().as_bytes())?;
    write_atomic(
        &dir.join("model.json"),
        serde_json::to_string_pretty(meta)?.as_bytes(),
    )?;
    Ok(())
}

/// Loads a model directory; errors name the missing or malformed file.
pub fn load(dir: &Path) -> Result<(FlowModel, ModelMeta)> {
    if !dir.is_dir() {
        anyhow::bail!(
            "--checkpoint {}: not a directory (expected config.json, params.npz, model.json)",
            dir.display()
        );
    }
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .with_context(|| format!("--checkpoint {}: cannot read {name}", dir.display()))
    };
    let config = String::from_utf8(read("config.json")?).context("config.json is not UTF-8")?;
    let meta: ModelMeta = serde_json::from_slice(&read("model.json")?)
        .with_context(|| format!("{}/model.json", dir.display()))?;
    let model = FlowModel::load(&config, std::io::Cursor::new(read("params.npz")?))
        .with_context(|| format!("--checkpoint {}", dir.display()))?;
    Ok((model, meta))
}

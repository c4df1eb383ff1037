//! Shared helpers of the alanine tests: the OpenMM fixture and positions ↔ rows.

#![allow(dead_code)]

use std::collections::BTreeMap;

use ndarray::Array2;
use serde::Deserialize;
use trade_targets::alanine::Positions;

/// The committed OpenMM Reference-platform fixture.
#[derive(Deserialize)]
pub struct Fixture {
    pub configs: Vec<Config>,
    pub md_reference: Vec<MdReference>,
}

/// One configuration with reference energies (kJ/mol) and forces (kJ/mol/nm).
#[derive(Deserialize)]
pub struct Config {
    pub name: String,
    pub positions: Vec<f64>,
    pub energy: BTreeMap<String, f64>,
    pub forces: BTreeMap<String, Vec<f64>>,
}

/// OpenMM LangevinMiddle mean potential energy at one temperature.
#[derive(Deserialize)]
pub struct MdReference {
    pub temperature_k: f64,
    pub mean: f64,
    pub standard_error: f64,
}

pub fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../data/alanine/fixture.json")).expect("fixture parses")
}

pub fn positions(v: &[f64]) -> Positions {
    std::array::from_fn(|i| [v[3 * i], v[3 * i + 1], v[3 * i + 2]])
}

pub fn rows(xs: &[Positions]) -> Array2<f64> {
    let flat: Vec<f64> = xs.iter().flat_map(|x| x.as_flattened().to_vec()).collect();
    Array2::from_shape_vec((xs.len(), 66), flat).expect("66 per row")
}

pub fn config<'a>(fx: &'a Fixture, name: &str) -> &'a Config {
    fx.configs
        .iter()
        .find(|c| c.name == name)
        .expect("config in fixture")
}

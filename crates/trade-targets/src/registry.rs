//! Targets and reference samplers by command-line name (`multi-well`, `phi4`, ...), with options.
//!
//! The one place that maps names to types; xtask and later crates build targets through
//! [`by_name`] and [`sampler_by_name`]. To add a target, add its name to [`TARGET_NAMES`] and an
//! arm to both functions (the `alanine-dipeptide` arms go where marked).

use crate::alanine::{AlanineDipeptide, MdSampler};
use crate::phi4::Phi4;
use crate::{
    DoubleWell, DoubleWellSampler, Gmm, GmmSampler, MultiWell, MultiWellSampler, Phi4Sampler,
    ReferenceSampler, Target, TargetError, TwoMoons, TwoMoonsSampler,
};

/// Every name [`by_name`] knows.
pub const TARGET_NAMES: &[&str] = &[
    "multi-well",
    "double-well",
    "gmm",
    "two-moons",
    "phi4",
    "alanine-dipeptide",
];

/// Optional parameters of a target; `None` means the spec default. Options a target does not
/// take are rejected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetOptions {
    /// Dimension of the multi-well (default 5).
    pub dim: Option<usize>,
    /// Two-moons observation y (default (0, 0)).
    pub observation: Option<[f64; 2]>,
    /// φ⁴ quartic coupling λ (default 0.02).
    pub lambda: Option<f64>,
    /// φ⁴ lattice side N (default 8).
    pub lattice: Option<usize>,
}

impl TargetOptions {
    /// Errors if an option outside `allowed` is set.
    fn only(&self, name: &str, allowed: &[&str]) -> Result<(), TargetError> {
        let set = [
            ("dim", self.dim.is_some()),
            ("observation", self.observation.is_some()),
            ("lambda", self.lambda.is_some()),
            ("lattice", self.lattice.is_some()),
        ];
        for (field, is_set) in set {
            if is_set && !allowed.contains(&field) {
                return Err(TargetError::InvalidParameter {
                    field: "option",
                    value: field.into(),
                    allowed: format!(
                        "options of {name}: {}",
                        if allowed.is_empty() {
                            "none".into()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    fn phi4(&self) -> Result<Phi4, TargetError> {
        self.only("phi4", &["lambda", "lattice"])?;
        Phi4::new(
            self.lattice.unwrap_or(crate::phi4::DEFAULT_LATTICE),
            self.lambda.unwrap_or(crate::phi4::DEFAULT_LAMBDA),
        )
    }
}

fn unknown(name: &str) -> TargetError {
    TargetError::InvalidParameter {
        field: "target",
        value: name.into(),
        allowed: TARGET_NAMES.join(", "),
    }
}

/// The target called `name` with `options`.
///
/// ```
/// use trade_targets::{TargetOptions, by_name};
/// let t = by_name("phi4", &TargetOptions { lattice: Some(4), ..TargetOptions::default() })?;
/// assert_eq!(t.dim(), 16);
/// assert!(by_name("no-such", &TargetOptions::default()).is_err());
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn by_name(name: &str, options: &TargetOptions) -> Result<Box<dyn Target>, TargetError> {
    match name {
        "multi-well" => {
            options.only(name, &["dim"])?;
            Ok(Box::new(MultiWell::new(options.dim.unwrap_or(5))?))
        }
        "double-well" => {
            options.only(name, &[])?;
            Ok(Box::new(DoubleWell))
        }
        "gmm" => {
            options.only(name, &[])?;
            Ok(Box::new(Gmm::new()))
        }
        "two-moons" => {
            options.only(name, &["observation"])?;
            Ok(Box::new(TwoMoons::new(
                options.observation.unwrap_or([0.0, 0.0]),
            )?))
        }
        "phi4" => Ok(Box::new(options.phi4()?)),
        // Condition in kelvin for the command line (dudc = ∂U/∂T in K⁻¹); TRADE code that wants
        // τ = T/600 K uses `AlanineDipeptide::new()` directly.
        "alanine-dipeptide" => {
            options.only(name, &[])?;
            Ok(Box::new(AlanineDipeptide::kelvin()))
        }
        _ => Err(unknown(name)),
    }
}

/// The exact (or reference) sampler of target `name` at condition `c`.
///
/// ```
/// use rand::SeedableRng;
/// use trade_targets::{TargetOptions, sampler_by_name};
/// let s = sampler_by_name("gmm", &TargetOptions::default(), 1.0)?;
/// let x = s.sample(10, &mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1));
/// assert_eq!(x.dim(), (10, 2));
/// # Ok::<(), trade_targets::TargetError>(())
/// ```
pub fn sampler_by_name(
    name: &str,
    options: &TargetOptions,
    c: f64,
) -> Result<Box<dyn ReferenceSampler>, TargetError> {
    // Validates the name, the options and the condition range in one place.
    let target = by_name(name, options)?;
    let spec = target.condition();
    if !(c.is_finite() && spec.min <= c && c <= spec.max) {
        return Err(TargetError::ConditionOutOfRange {
            name: spec.name,
            value: c,
            allowed: format!("[{}, {}]", spec.min, spec.max),
        });
    }
    match name {
        "multi-well" => Ok(Box::new(MultiWellSampler::new(target.dim(), c)?)),
        "double-well" => Ok(Box::new(DoubleWellSampler::new(c)?)),
        "gmm" => Ok(Box::new(GmmSampler::new(c)?)),
        "two-moons" => Ok(Box::new(TwoMoonsSampler::new(
            options.observation.unwrap_or([0.0, 0.0]),
            c,
        )?)),
        "phi4" => Ok(Box::new(Phi4Sampler::new(options.phi4()?, c)?)),
        // BAOAB + SHAKE/RATTLE Langevin MD at c kelvin (2 fs, 1/ps, 100 ps equilibration,
        // 1 ps spacing, 4 replicas from the minimised reference structure).
        "alanine-dipeptide" => Ok(Box::new(MdSampler::at(c)?)),
        _ => Err(unknown(name)),
    }
}

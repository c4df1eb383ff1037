//! Reference sampler: Langevin dynamics with BAOAB splitting (the configurational sampling of
//! OpenMM's `LangevinMiddleIntegrator`), SHAKE/RATTLE on the 12 X–H bonds, seeded replicas in
//! parallel. Units: nm, ps, Da, kJ/mol, K.
//!
//! One step of length h: B (v += ½h F/m, RATTLE), A (x += ½h v, SHAKE, RATTLE), O
//! (v ← e^{−γh} v + √((1 − e^{−2γh}) k_BT/m) ξ, RATTLE), A, force, B. The centre of mass is not
//! removed (it does not affect configurations); saved frames are centred at the centroid.

use ndarray::{Array1, Array2};
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::constraints::ConstraintSolver;
use super::forcefield::ForceField;
use super::geometry::axpy;
use super::{DIM, N_ATOMS, Positions, reference_structure};
use crate::{ReferenceSampler, TargetError, rng_for};

/// Settings of the Langevin integrator and the sampler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MdConfig {
    /// Temperature in K.
    pub temperature: f64,
    /// Time step in ps (spec: 0.002).
    pub timestep: f64,
    /// Friction γ in ps⁻¹ (spec: 1).
    pub friction: f64,
    /// Steps discarded per replica before the first frame (spec: 100 ps = 50 000 steps).
    pub equilibration_steps: usize,
    /// Steps between saved frames (spec: 0.5–1 ps; default 500 = 1 ps).
    pub steps_per_frame: usize,
    /// Independent replicas run in parallel; frames are concatenated in replica order.
    pub replicas: usize,
    /// Relative SHAKE/RATTLE tolerance (lengths hold to ~tolerance · d).
    pub constraint_tolerance: f64,
}

impl MdConfig {
    /// Spec defaults at temperature `t` (K): 2 fs, 1/ps, 100 ps equilibration, 1 ps spacing,
    /// 4 replicas, tolerance 1e-12.
    pub fn at(temperature: f64) -> Self {
        MdConfig {
            temperature,
            timestep: 0.002,
            friction: 1.0,
            equilibration_steps: 50_000,
            steps_per_frame: 500,
            replicas: 4,
            constraint_tolerance: 1e-12,
        }
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`TargetError::InvalidParameter`] naming the field and the allowed range.
    pub fn validate(&self) -> Result<(), TargetError> {
        let bad = |field: &'static str, value: String, allowed: &str| {
            Err(TargetError::InvalidParameter {
                field,
                value,
                allowed: allowed.into(),
            })
        };
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad("temperature", self.temperature.to_string(), "> 0 K");
        }
        if !(self.timestep.is_finite() && 0.0 < self.timestep && self.timestep <= 0.005) {
            return bad("timestep", self.timestep.to_string(), "(0, 0.005] ps");
        }
        if !(self.friction.is_finite() && self.friction >= 0.0) {
            return bad("friction", self.friction.to_string(), ">= 0 ps^-1");
        }
        if self.steps_per_frame == 0 {
            return bad("steps_per_frame", "0".into(), ">= 1");
        }
        if self.replicas == 0 {
            return bad("replicas", "0".into(), ">= 1");
        }
        if !(self.constraint_tolerance > 0.0 && self.constraint_tolerance < 1e-4) {
            return bad(
                "constraint_tolerance",
                self.constraint_tolerance.to_string(),
                "(0, 1e-4)",
            );
        }
        Ok(())
    }
}

/// Positions, velocities and forces of one replica.
#[derive(Debug, Clone, PartialEq)]
pub struct MdState {
    /// Positions in nm.
    pub positions: Positions,
    /// Velocities in nm/ps.
    pub velocities: Positions,
    /// Potential energy at `positions`, kJ/mol.
    pub potential_energy: f64,
    /// Kinetic energy right after the last O step, kJ/mol: BAOAB's velocities there are
    /// Maxwell–Boltzmann distributed (full-step velocities carry an O(h²) bias).
    pub middle_kinetic_energy: f64,
    gradient: Positions,
}

impl MdState {
    /// Kinetic energy ½ Σ m v², kJ/mol.
    pub fn kinetic_energy(&self, masses: &[f64; N_ATOMS]) -> f64 {
        masses
            .iter()
            .zip(&self.velocities)
            .map(|(m, v)| 0.5 * m * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]))
            .sum()
    }
}

/// The BAOAB + SHAKE/RATTLE Langevin integrator.
#[derive(Debug, Clone)]
pub struct LangevinIntegrator {
    ff: &'static ForceField,
    config: MdConfig,
    masses: [f64; N_ATOMS],
    solver: ConstraintSolver,
}

impl LangevinIntegrator {
    /// An integrator for the embedded force field.
    ///
    /// # Errors
    /// If `config` is invalid ([`MdConfig::validate`]).
    pub fn new(config: MdConfig) -> Result<Self, TargetError> {
        config.validate()?;
        let ff = ForceField::embedded();
        let masses = ff.masses();
        let solver = ConstraintSolver::new(ff.constraints(), &masses, config.constraint_tolerance);
        Ok(LangevinIntegrator {
            ff,
            config,
            masses,
            solver,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MdConfig {
        &self.config
    }

    /// Atomic masses in Da.
    pub fn masses(&self) -> &[f64; N_ATOMS] {
        &self.masses
    }

    /// Number of degrees of freedom 3N − 12 (no centre-of-mass removal).
    pub fn degrees_of_freedom(&self) -> usize {
        DIM - self.ff.constraints().len()
    }

    /// k_B T in kJ/mol.
    fn kt(&self) -> f64 {
        self.ff.gas_constant() * self.config.temperature
    }

    /// Largest constraint violation |r − d| of `x` in nm.
    pub fn constraint_violation(&self, x: &Positions) -> f64 {
        self.solver.max_violation(x)
    }

    /// A state at `x0` with constraints applied and Maxwell–Boltzmann velocities.
    ///
    /// # Errors
    /// If the constraints cannot be satisfied from `x0`.
    pub fn init_state(
        &self,
        x0: &Positions,
        rng: &mut impl RngCore,
    ) -> Result<MdState, TargetError> {
        let mut x = *x0;
        self.solver.shake(&mut x, x0)?;
        let mut v = [[0.0; 3]; N_ATOMS];
        self.thermalise(&mut v, 0.0, rng);
        self.solver.rattle(&x, &mut v)?;
        let mut gradient = [[0.0; 3]; N_ATOMS];
        let potential_energy = self.ff.energy_grad(&x, &mut gradient);
        let mut s = MdState {
            positions: x,
            velocities: v,
            potential_energy,
            middle_kinetic_energy: 0.0,
            gradient,
        };
        s.middle_kinetic_energy = s.kinetic_energy(&self.masses);
        Ok(s)
    }

    /// O step: v ← a v + √((1 − a²) kT/m) ξ.
    fn thermalise(&self, v: &mut Positions, a: f64, rng: &mut impl RngCore) {
        let kt = self.kt();
        for (vi, m) in v.iter_mut().zip(&self.masses) {
            let s = ((1.0 - a * a) * kt / m).sqrt();
            for c in vi.iter_mut() {
                let xi: f64 = StandardNormal.sample(rng);
                *c = a * *c + s * xi;
            }
        }
    }

    fn kick(&self, s: &mut MdState, h: f64) -> Result<(), TargetError> {
        for ((v, g), m) in s.velocities.iter_mut().zip(&s.gradient).zip(&self.masses) {
            axpy(v, -h / m, *g);
        }
        self.solver.rattle(&s.positions, &mut s.velocities)
    }

    fn drift(&self, s: &mut MdState, h: f64) -> Result<(), TargetError> {
        let old = s.positions;
        for (x, v) in s.positions.iter_mut().zip(&s.velocities) {
            axpy(x, h, *v);
        }
        self.solver.shake(&mut s.positions, &old)?;
        for ((v, x), o) in s.velocities.iter_mut().zip(&s.positions).zip(&old) {
            *v = [(x[0] - o[0]) / h, (x[1] - o[1]) / h, (x[2] - o[2]) / h];
        }
        self.solver.rattle(&s.positions, &mut s.velocities)
    }

    /// One BAOAB step.
    ///
    /// # Errors
    /// If SHAKE or RATTLE fail (the trajectory blew up).
    pub fn step(&self, s: &mut MdState, rng: &mut impl RngCore) -> Result<(), TargetError> {
        let h = self.config.timestep;
        self.kick(s, 0.5 * h)?;
        self.drift(s, 0.5 * h)?;
        self.thermalise(&mut s.velocities, (-self.config.friction * h).exp(), rng);
        self.solver.rattle(&s.positions, &mut s.velocities)?;
        s.middle_kinetic_energy = s.kinetic_energy(&self.masses);
        self.drift(s, 0.5 * h)?;
        s.potential_energy = self.ff.energy_grad(&s.positions, &mut s.gradient);
        if !s.potential_energy.is_finite() {
            return Err(TargetError::Numerical {
                procedure: "Langevin dynamics",
                reason: "non-finite energy".into(),
            });
        }
        self.kick(s, 0.5 * h)
    }

    /// `n` steps.
    ///
    /// # Errors
    /// As [`LangevinIntegrator::step`].
    pub fn run(
        &self,
        s: &mut MdState,
        n: usize,
        rng: &mut impl RngCore,
    ) -> Result<(), TargetError> {
        (0..n).try_for_each(|_| self.step(s, rng))
    }
}

/// Frames and their potential energies from [`MdSampler::trajectory`].
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// (n, 66) positions in nm, atom-major, centred at the centroid.
    pub frames: Array2<f64>,
    /// Potential energy per frame, kJ/mol.
    pub potential_energy: Array1<f64>,
    /// Mean kinetic energy (at the O step, see [`MdState::middle_kinetic_energy`]) per replica
    /// over saved frames, kJ/mol.
    pub replica_mean_kinetic: Vec<f64>,
    /// Mean potential energy per replica over saved frames, kJ/mol.
    pub replica_mean_potential: Vec<f64>,
}

/// Output of one replica: flat frames, their energies, mean kinetic energy.
struct ReplicaRun {
    frames: Vec<f64>,
    energy: Vec<f64>,
    mean_kinetic: f64,
}

/// MD reference sampler at one temperature, from the reference structure, replicas in parallel.
#[derive(Debug, Clone)]
pub struct MdSampler {
    integrator: LangevinIntegrator,
    start: Positions,
}

impl MdSampler {
    /// A sampler with `config`, starting every replica at [`reference_structure`].
    ///
    /// # Errors
    /// If `config` is invalid.
    pub fn new(config: MdConfig) -> Result<Self, TargetError> {
        Ok(MdSampler {
            integrator: LangevinIntegrator::new(config)?,
            start: reference_structure(),
        })
    }

    /// Spec defaults ([`MdConfig::at`]) at temperature `t` in K.
    ///
    /// # Errors
    /// If `t` is not a positive finite temperature.
    pub fn at(t: f64) -> Result<Self, TargetError> {
        Self::new(MdConfig::at(t))
    }

    /// The integrator.
    pub fn integrator(&self) -> &LangevinIntegrator {
        &self.integrator
    }

    /// `n` frames: replica r uses stream `rng_for(seed, r)` and contributes ⌈n/replicas⌉ frames
    /// (the last replica fewer); same seed, same frames on any thread count.
    ///
    /// # Errors
    /// If a trajectory blows up (SHAKE/RATTLE failure or non-finite energy).
    pub fn trajectory(&self, n: usize, seed: u64) -> Result<Trajectory, TargetError> {
        let cfg = self.integrator.config;
        let per = n.div_ceil(cfg.replicas).max(1);
        let runs: Vec<Result<ReplicaRun, TargetError>> = (0..cfg.replicas)
            .into_par_iter()
            .map(|r| {
                let count = per.min(n.saturating_sub(r * per));
                self.replica(count, rng_for(seed, r as u64))
            })
            .collect();
        let mut frames = Vec::with_capacity(n * DIM);
        let mut energy = Vec::with_capacity(n);
        let (mut mk, mut mp) = (Vec::new(), Vec::new());
        for run in runs {
            let run = run?;
            if !run.energy.is_empty() {
                mp.push(run.energy.iter().sum::<f64>() / run.energy.len() as f64);
                mk.push(run.mean_kinetic);
            }
            frames.extend(run.frames);
            energy.extend(run.energy);
        }
        let frames =
            Array2::from_shape_vec((n, DIM), frames).map_err(|e| TargetError::Numerical {
                procedure: "MD sampler",
                reason: e.to_string(),
            })?;
        Ok(Trajectory {
            frames,
            potential_energy: Array1::from_vec(energy),
            replica_mean_kinetic: mk,
            replica_mean_potential: mp,
        })
    }

    /// One replica: equilibrate, then `count` frames.
    fn replica(
        &self,
        count: usize,
        mut rng: Xoshiro256PlusPlus,
    ) -> Result<ReplicaRun, TargetError> {
        let it = &self.integrator;
        if count == 0 {
            return Ok(ReplicaRun {
                frames: Vec::new(),
                energy: Vec::new(),
                mean_kinetic: 0.0,
            });
        }
        let mut s = it.init_state(&self.start, &mut rng)?;
        it.run(&mut s, it.config.equilibration_steps, &mut rng)?;
        let (mut frames, mut energy, mut ke) = (
            Vec::with_capacity(count * DIM),
            Vec::with_capacity(count),
            0.0,
        );
        for _ in 0..count {
            it.run(&mut s, it.config.steps_per_frame, &mut rng)?;
            let c: [f64; 3] = std::array::from_fn(|k| {
                s.positions.iter().map(|p| p[k]).sum::<f64>() / N_ATOMS as f64
            });
            frames.extend(
                s.positions
                    .iter()
                    .flat_map(|p| [p[0] - c[0], p[1] - c[1], p[2] - c[2]]),
            );
            energy.push(s.potential_energy);
            ke += s.middle_kinetic_energy / count as f64;
        }
        Ok(ReplicaRun {
            frames,
            energy,
            mean_kinetic: ke,
        })
    }
}

impl ReferenceSampler for MdSampler {
    fn dim(&self) -> usize {
        DIM
    }

    /// # Panics
    /// If the dynamics blow up (never observed with the spec settings); use
    /// [`MdSampler::trajectory`] to handle that as an error.
    fn sample(&self, n: usize, rng: &mut dyn RngCore) -> Array2<f64> {
        let seed = rng.next_u64();
        self.trajectory(n, seed)
            .expect("Langevin dynamics with spec settings is stable")
            .frames
    }
}

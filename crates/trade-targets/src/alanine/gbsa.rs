//! OBC-II generalized Born (HCT Born radii with offset/unoffset radii as in OpenMM) and the ACE
//! non-polar term, with the gradient chained through the Born radii.
//!
//! For atom i with radius ρ_i, offset radius ρ̃_i = ρ_i − 0.009 nm, and each j ≠ i with
//! S_j = s_j ρ̃_j at distance r: if ρ̃_i < r + S_j, with L = max(ρ̃_i, |r − S_j|), U = r + S_j,
//! `t_ij = 1/L − 1/U + (r/4)(1/U² − 1/L²) + ln(L/U)/(2r) + S_j²/(4r)(1/L² − 1/U²)`
//! (+ `2(1/ρ̃_i − 1/L)` if ρ̃_i < S_j − r). Ψ_i = ½ ρ̃_i Σ_j t_ij and
//! `R_i = 1/(1/ρ̃_i − tanh(αΨ − βΨ² + γΨ³)/ρ_i)`.
//! `E_GB = −k_e Δ [Σ_i q_i²/(2R_i) + Σ_{i<j} q_i q_j / f_ij]`,
//! `f_ij = √(r² + R_i R_j exp(−r²/(4R_iR_j)))`, Δ = 1/ε_in − 1/ε_out;
//! `E_ACE = Σ_i 4π γ_SA (ρ_i + 0.14)² (ρ_i/R_i)⁶`.
//! The total derivative of t_ij through L and U vanishes, so only ∂t/∂r at fixed (L, U) enters.

use super::geometry::{axpy, dot, sub};
use super::params::Parameters;
use super::{N_ATOMS, Positions};

/// Per-atom constants of the GB model.
#[derive(Debug, Clone)]
pub(crate) struct GbModel {
    /// Charges q_i (e).
    charge: [f64; N_ATOMS],
    /// Unoffset radii ρ_i (nm).
    radius: [f64; N_ATOMS],
    /// Offset radii ρ̃_i (nm).
    offset_radius: [f64; N_ATOMS],
    /// Scaled descreening radii S_i = s_i ρ̃_i (nm).
    scaled_radius: [f64; N_ATOMS],
    /// ACE prefactor 4π γ_SA (ρ_i + probe)² (kJ/mol).
    ace_prefactor: [f64; N_ATOMS],
    /// −k_e (1/ε_in − 1/ε_out) in kJ mol⁻¹ nm e⁻².
    pre: f64,
    alpha: f64,
    beta: f64,
    gamma: f64,
}

impl GbModel {
    pub(crate) fn new(p: &Parameters) -> Self {
        let g = &p.gbsa;
        let mut m = GbModel {
            charge: [0.0; N_ATOMS],
            radius: [0.0; N_ATOMS],
            offset_radius: [0.0; N_ATOMS],
            scaled_radius: [0.0; N_ATOMS],
            ace_prefactor: [0.0; N_ATOMS],
            pre: -p.coulomb_constant * (1.0 / g.solute_dielectric - 1.0 / g.solvent_dielectric),
            alpha: g.alpha,
            beta: g.beta,
            gamma: g.gamma,
        };
        for (i, a) in p.atoms.iter().enumerate() {
            m.charge[i] = a.charge;
            m.radius[i] = a.gb_radius;
            m.offset_radius[i] = a.gb_radius - g.dielectric_offset;
            m.scaled_radius[i] = m.offset_radius[i] * a.gb_scale;
            let rp = a.gb_radius + g.probe_radius;
            m.ace_prefactor[i] = 4.0 * std::f64::consts::PI * g.surface_area_energy * rp * rp;
        }
        m
    }

    /// Born radii R_i and, when `G`, dR_i/dr_ij (through Ψ_i) in `dr_dr[i][j]`.
    fn born_radii<const G: bool>(
        &self,
        r: &[[f64; N_ATOMS]; N_ATOMS],
        dr_dr: &mut [[f64; N_ATOMS]; N_ATOMS],
    ) -> [f64; N_ATOMS] {
        let mut born = [0.0; N_ATOMS];
        for i in 0..N_ATOMS {
            let ri = self.offset_radius[i];
            let mut sum = 0.0;
            for j in 0..N_ATOMS {
                if j == i {
                    continue;
                }
                let rij = r[i][j];
                let sj = self.scaled_radius[j];
                let u = rij + sj;
                if ri >= u {
                    continue;
                }
                let l = ri.max((rij - sj).abs());
                let (inv_l, inv_u) = (1.0 / l, 1.0 / u);
                let (inv_l2, inv_u2) = (inv_l * inv_l, inv_u * inv_u);
                let inv_r = 1.0 / rij;
                let log_lu = (l * inv_u).ln();
                let mut t = inv_l - inv_u
                    + 0.25 * rij * (inv_u2 - inv_l2)
                    + 0.5 * inv_r * log_lu
                    + 0.25 * sj * sj * inv_r * (inv_l2 - inv_u2);
                if ri < sj - rij {
                    t += 2.0 * (1.0 / ri - inv_l);
                }
                sum += t;
                if G {
                    let inv_r2 = inv_r * inv_r;
                    dr_dr[i][j] = 0.25 * (inv_u2 - inv_l2)
                        - 0.5 * inv_r2 * log_lu
                        - 0.25 * sj * sj * inv_r2 * (inv_l2 - inv_u2);
                }
            }
            let psi = 0.5 * ri * sum;
            let th =
                (self.alpha * psi - self.beta * psi * psi + self.gamma * psi * psi * psi).tanh();
            let rb = 1.0 / (1.0 / ri - th / self.radius[i]);
            born[i] = rb;
            if G {
                // dR/dΣ = R² (1 − tanh²)(α − 2βΨ + 3γΨ²) (ρ̃/2) / ρ
                let chain = rb
                    * rb
                    * (1.0 - th * th)
                    * (self.alpha - 2.0 * self.beta * psi + 3.0 * self.gamma * psi * psi)
                    * 0.5
                    * ri
                    / self.radius[i];
                for d in dr_dr[i].iter_mut() {
                    *d *= chain;
                }
            }
        }
        born
    }

    /// `(E_GB, E_ACE)`; each only if its flag is set; gradient added when `G`.
    pub(crate) fn energy<const G: bool>(
        &self,
        x: &Positions,
        polar: bool,
        ace: bool,
        grad: &mut Positions,
    ) -> (f64, f64) {
        let mut r = [[0.0; N_ATOMS]; N_ATOMS];
        for i in 0..N_ATOMS {
            for j in i + 1..N_ATOMS {
                let d = sub(x[j], x[i]);
                let rij = dot(d, d).sqrt();
                r[i][j] = rij;
                r[j][i] = rij;
            }
        }
        let mut dr_dr = [[0.0; N_ATOMS]; N_ATOMS];
        let born = self.born_radii::<G>(&r, &mut dr_dr);
        let mut de_dborn = [0.0; N_ATOMS];
        let (mut e_gb, mut e_ace) = (0.0, 0.0);
        if polar {
            e_gb = self.polar::<G>(x, &r, &born, &mut de_dborn, grad);
        }
        if ace {
            for i in 0..N_ATOMS {
                let ratio = self.radius[i] / born[i];
                let r3 = ratio * ratio * ratio;
                let e = self.ace_prefactor[i] * r3 * r3;
                e_ace += e;
                de_dborn[i] -= 6.0 * e / born[i];
            }
        }
        if G {
            for i in 0..N_ATOMS {
                for j in 0..N_ATOMS {
                    let de_dr = de_dborn[i] * dr_dr[i][j];
                    if j == i || de_dr == 0.0 {
                        continue;
                    }
                    let d = sub(x[j], x[i]);
                    let f = de_dr / r[i][j];
                    axpy(&mut grad[j], f, d);
                    axpy(&mut grad[i], -f, d);
                }
            }
        }
        (e_gb, e_ace)
    }

    /// E_GB with its direct distance gradient (added to `grad`) and ∂E/∂R_i (added to `de_dborn`).
    fn polar<const G: bool>(
        &self,
        x: &Positions,
        r: &[[f64; N_ATOMS]; N_ATOMS],
        born: &[f64; N_ATOMS],
        de_dborn: &mut [f64; N_ATOMS],
        grad: &mut Positions,
    ) -> f64 {
        let mut e = 0.0;
        for i in 0..N_ATOMS {
            let qi = self.pre * self.charge[i];
            let self_e = 0.5 * qi * self.charge[i] / born[i];
            e += self_e;
            de_dborn[i] -= self_e / born[i];
            for j in i + 1..N_ATOMS {
                let rij = r[i][j];
                let r2 = rij * rij;
                let rr = born[i] * born[j];
                let dd = r2 / (4.0 * rr);
                let ex = (-dd).exp();
                let f2 = r2 + rr * ex;
                let f = f2.sqrt();
                let g = qi * self.charge[j] / f;
                e += g;
                if G {
                    // ∂g/∂(R_iR_j) = −g e^{−D}(1 + D)/(2f²);  ∂g/∂r · (1/r) = −g(1 − e^{−D}/4)/f²
                    let dg_drr = -0.5 * g * ex * (1.0 + dd) / f2;
                    de_dborn[i] += dg_drr * born[j];
                    de_dborn[j] += dg_drr * born[i];
                    let dg_dr_over_r = -g * (1.0 - 0.25 * ex) / f2;
                    let d = sub(x[j], x[i]);
                    axpy(&mut grad[j], dg_dr_over_r, d);
                    axpy(&mut grad[i], -dg_dr_over_r, d);
                }
            }
        }
        e
    }
}

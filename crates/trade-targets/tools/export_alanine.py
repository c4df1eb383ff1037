#!/usr/bin/env python3
"""One-off export of the alanine-dipeptide force field and reference fixtures from OpenMM.

Spec: shared/spec/targets.md §6 (recipe §6.10). Writes, next to the Rust code that embeds them:

* data/alanine/params.json   every parameter at full float precision (source of truth for Rust);
* data/alanine/system.xml    XmlSerializer archive of the OpenMM System (lossless);
* data/alanine/fixture.json  reference energies (total + 7 terms) and forces from the Reference
                             platform for 27 configurations (reference build, OpenMM minimum, MD
                             frames at 300/600/1000 K, noisy, compressed and rotated copies), plus
                             OpenMM LangevinMiddle mean potential energies at 300 and 600 K
                             (4 runs x 400 ps after 100 ps) to validate the Rust MD sampler.

Usage:  python3 tools/export_alanine.py            # export params + fixture
        python3 tools/export_alanine.py --timing   # time OpenMM Reference/CPU (energy+forces, MD)

Python is never needed to build or test the Rust crate. Tested with OpenMM 8.6.1.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as unit

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "alanine")

RESIDUES = [
    ("ACE", ["H1", "CH3", "H2", "H3", "C", "O"]),
    ("ALA", ["N", "H", "CA", "HA", "CB", "HB1", "HB2", "HB3", "C", "O"]),
    ("NME", ["N", "H", "C", "H1", "H2", "H3"]),
]
ELEMENT = {"H": app.element.hydrogen, "C": app.element.carbon, "N": app.element.nitrogen,
           "O": app.element.oxygen}

# Z-matrix of targets.md §6.8: (atom, bond partner, angle partner, torsion partner, build ζ deg).
ZMATRIX = [
    (0, 1, 4, 6, 180.0), (1, 4, 6, 8, 180.0), (2, 1, 4, 0, 120.0), (3, 1, 4, 0, -120.0),
    (4, 6, 8, 14, -150.0), (5, 4, 6, 8, 0.0), (7, 6, 8, 4, 180.0), (11, 10, 8, 6, 60.0),
    (12, 10, 8, 11, 120.0), (13, 10, 8, 11, -120.0), (15, 14, 8, 16, 180.0),
    (16, 14, 8, 6, 150.0), (17, 16, 14, 15, 180.0), (18, 16, 14, 8, 180.0),
    (19, 18, 16, 14, 180.0), (20, 18, 16, 19, 120.0), (21, 18, 16, 19, -120.0),
    (9, 8, 6, 14, 120.0), (10, 8, 14, 6, 120.0),
]
# NOTE: targets.md §6.8 lists CB at -120 deg; with the IUPAC dihedral that puts CB 0.044 nm from
# HA and gives V < 0 (D-chirality). +120 gives L-Ala (V > 0, improper (8,6,14,10) ~ +34 deg), as
# in the OpenMM minimum (dihedral(10, 8, 14, 6) = +122 deg there).

KE = 138.93545764438198  # ONE_4PI_EPS0 of OpenMM 8.x, kJ mol^-1 nm e^-2
GROUPS = {"HarmonicBondForce": 0, "HarmonicAngleForce": 1, "PeriodicTorsionForce": 2,
          "NonbondedForce": 3, "GBSAOBCForce": 4, "CMMotionRemover": 5}


def build_topology():
    top = app.Topology()
    chain = top.addChain()
    for rname, names in RESIDUES:
        res = top.addResidue(rname, chain)
        for n in names:
            top.addAtom(n, ELEMENT[n[0]], res)
    top.createStandardBonds()
    assert top.getNumBonds() == 21, top.getNumBonds()
    return top


def build_system(top):
    ff = app.ForceField("amber99sbildn.xml", "amber96_obc.xml")
    system = ff.createSystem(top, nonbondedMethod=app.NoCutoff, constraints=app.HBonds,
                             rigidWater=True, removeCMMotion=True)
    forces = {type(f).__name__: f for f in system.getForces()}
    assert system.getNumParticles() == 22
    assert forces["HarmonicBondForce"].getNumBonds() == 9
    assert forces["HarmonicAngleForce"].getNumAngles() == 36
    assert forces["PeriodicTorsionForce"].getNumTorsions() == 42
    assert forces["NonbondedForce"].getNumExceptions() == 98
    assert system.getNumConstraints() == 12
    assert "GBSAOBCForce" in forces and "CMMotionRemover" in forces
    for f in system.getForces():
        f.setForceGroup(GROUPS[type(f).__name__])
    return system, forces


def export_params(top, system, forces):
    bonded = {tuple(sorted((b[0].index, b[1].index))) for b in top.bonds()}
    atoms = []
    nb, gb = forces["NonbondedForce"], forces["GBSAOBCForce"]
    for a in top.atoms():
        q, sig, eps = nb.getParticleParameters(a.index)
        gq, rad, scale = gb.getParticleParameters(a.index)
        assert abs(q.value_in_unit(unit.elementary_charge) - gq.value_in_unit(unit.elementary_charge)) < 1e-12
        atoms.append({
            "index": a.index, "residue": a.residue.name, "name": a.name, "element": a.element.symbol,
            "mass": system.getParticleMass(a.index).value_in_unit(unit.dalton),
            "charge": q.value_in_unit(unit.elementary_charge),
            "sigma": sig.value_in_unit(unit.nanometer),
            "epsilon": eps.value_in_unit(unit.kilojoule_per_mole),
            "gb_radius": rad.value_in_unit(unit.nanometer),
            "gb_scale": scale,
        })
    bonds = []
    f = forces["HarmonicBondForce"]
    for k in range(f.getNumBonds()):
        i, j, r0, kk = f.getBondParameters(k)
        bonds.append({"i": i, "j": j, "r0": r0.value_in_unit(unit.nanometer),
                      "k": kk.value_in_unit(unit.kilojoule_per_mole / unit.nanometer**2)})
    angles = []
    f = forces["HarmonicAngleForce"]
    for k in range(f.getNumAngles()):
        i, j, l, t0, kk = f.getAngleParameters(k)
        angles.append({"i": i, "j": j, "k": l, "theta0": t0.value_in_unit(unit.radian),
                       "k_theta": kk.value_in_unit(unit.kilojoule_per_mole / unit.radian**2)})
    torsions = []
    f = forces["PeriodicTorsionForce"]
    for k in range(f.getNumTorsions()):
        i, j, l, m, n, p0, kk = f.getTorsionParameters(k)
        improper = not all(tuple(sorted(p)) in bonded for p in [(i, j), (j, l), (l, m)])
        torsions.append({"i": i, "j": j, "k": l, "l": m, "periodicity": n,
                         "phase": p0.value_in_unit(unit.radian),
                         "k_torsion": kk.value_in_unit(unit.kilojoule_per_mole),
                         "improper": improper})
    assert sum(t["improper"] for t in torsions) == 4
    exceptions = []
    for k in range(nb.getNumExceptions()):
        i, j, qq, sig, eps = nb.getExceptionParameters(k)
        exceptions.append({"i": i, "j": j, "qq": qq.value_in_unit(unit.elementary_charge**2),
                           "sigma": sig.value_in_unit(unit.nanometer),
                           "epsilon": eps.value_in_unit(unit.kilojoule_per_mole)})
    constraints = []
    for k in range(system.getNumConstraints()):
        i, j, d = system.getConstraintParameters(k)
        constraints.append({"i": i, "j": j, "d": d.value_in_unit(unit.nanometer)})
    return {
        "source": "OpenMM %s: ForceField('amber99sbildn.xml', 'amber96_obc.xml').createSystem("
                  "NoCutoff, constraints=HBonds, rigidWater=True, removeCMMotion=True); "
                  "tools/export_alanine.py" % mm.__version__,
        "units": {"length": "nm", "energy": "kJ/mol", "angle": "rad", "charge": "e", "mass": "Da"},
        "coulomb_constant": KE,
        "molar_gas_constant": unit.MOLAR_GAS_CONSTANT_R.value_in_unit(
            unit.kilojoule_per_mole / unit.kelvin),
        "atoms": atoms,
        "bonds": bonds,
        "angles": angles,
        "torsions": torsions,
        "exceptions": exceptions,
        "constraints": constraints,
        "gbsa": {
            "solute_dielectric": gb.getSoluteDielectric(),
            "solvent_dielectric": gb.getSolventDielectric(),
            "surface_area_energy": gb.getSurfaceAreaEnergy().value_in_unit(
                unit.kilojoule_per_mole / unit.nanometer**2),
            "probe_radius": 0.14,
            "dielectric_offset": 0.009,
            "alpha": 1.0, "beta": 0.8, "gamma": 4.85,
        },
    }


def nerf(b, a, t, r, theta, zeta):
    e = (b - a) / np.linalg.norm(b - a)
    n = np.cross(a - t, e)
    n /= np.linalg.norm(n)
    m = np.cross(n, e)
    return b + r * (-math.cos(theta) * e + math.sin(theta) * math.cos(zeta) * m
                    + math.sin(theta) * math.sin(zeta) * n)


def build_reference(params):
    """§6.7 steps 1-3: Z-matrix with exported r0 / constraint lengths / θ0 and the table torsions."""
    length = {}
    for b in params["bonds"]:
        length[frozenset((b["i"], b["j"]))] = b["r0"]
    for c in params["constraints"]:
        length[frozenset((c["i"], c["j"]))] = c["d"]
    theta0 = {}
    for a in params["angles"]:
        theta0[(a["i"], a["j"], a["k"])] = a["theta0"]
        theta0[(a["k"], a["j"], a["i"])] = a["theta0"]
    x = np.zeros((22, 3))
    x[8] = [length[frozenset((8, 14))], 0.0, 0.0]
    th = theta0[(6, 8, 14)]
    d68 = length[frozenset((6, 8))]
    # atom 6 in the xy-plane (y > 0), at angle ∠(6,8,14) at atom 8
    x[6] = x[8] + d68 * np.array([-math.cos(th), math.sin(th), 0.0])
    placed = {14, 8, 6}
    todo = list(ZMATRIX)
    while todo:  # the table is in IC output order; build in dependency order
        row = next(r for r in todo if {r[1], r[2], r[3]} <= placed)
        todo.remove(row)
        atom, b, a, t, zeta = row
        x[atom] = nerf(x[b], x[a], x[t], length[frozenset((atom, b))], theta0[(atom, b, a)],
                       math.radians(zeta))
        placed.add(atom)
    return x


def dihedral(p0, p1, p2, p3):
    """IUPAC dihedral in degrees (trans = 180, positive = clockwise seen along p1 -> p2)."""
    b0, b1, b2 = p1 - p0, p2 - p1, p3 - p2
    y = np.linalg.norm(b1) * np.dot(b0, np.cross(b1, b2))
    return math.degrees(math.atan2(y, np.dot(np.cross(b0, b1), np.cross(b1, b2))))


def context(system, platform="Reference", integrator=None):
    integ = integrator if integrator is not None else mm.VerletIntegrator(1e-3)
    props = {"Threads": "1"} if platform == "CPU" else {}  # 22 atoms: threads only spin
    return mm.Context(system, integ, mm.Platform.getPlatformByName(platform), props)


def term_systems(system):
    """Systems whose group 3 (nonbonded) / 4 (GB) hold exactly one of LJ, Coulomb, GB polar, ACE."""
    def find(s, name):
        return [f for f in s.getForces() if type(f).__name__ == name][0]

    lj = copy.deepcopy(system)
    nb = find(lj, "NonbondedForce")
    for i in range(nb.getNumParticles()):
        q, s, e = nb.getParticleParameters(i)
        nb.setParticleParameters(i, 0.0, s, e)
    for k in range(nb.getNumExceptions()):
        i, j, qq, s, e = nb.getExceptionParameters(k)
        nb.setExceptionParameters(k, i, j, 0.0, s, e)
    coul = copy.deepcopy(system)
    nb = find(coul, "NonbondedForce")
    for i in range(nb.getNumParticles()):
        q, s, e = nb.getParticleParameters(i)
        nb.setParticleParameters(i, q, s, 0.0)
    for k in range(nb.getNumExceptions()):
        i, j, qq, s, e = nb.getExceptionParameters(k)
        nb.setExceptionParameters(k, i, j, qq, s, 0.0)
    polar = copy.deepcopy(system)
    find(polar, "GBSAOBCForce").setSurfaceAreaEnergy(0.0)
    ace = copy.deepcopy(system)
    gb = find(ace, "GBSAOBCForce")
    for i in range(gb.getNumParticles()):
        q, r, s = gb.getParticleParameters(i)
        gb.setParticleParameters(i, 0.0, r, s)  # Born radii do not depend on charges
    return {"lj": (lj, 3), "coulomb": (coul, 3), "gb": (polar, 4), "ace": (ace, 4)}


TERMS = ["bond", "angle", "torsion", "lj", "coulomb", "gb", "ace"]


def evaluate(system, extra, x):
    """Total and per-term energies (kJ/mol) and forces (kJ/mol/nm), Reference platform."""
    out = {}
    ctx = context(system)
    ctx.setPositions(x)
    st = ctx.getState(getEnergy=True, getForces=True)
    out["total"] = (st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                    st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
    for name, g in [("bond", 0), ("angle", 1), ("torsion", 2)]:
        st = ctx.getState(getEnergy=True, getForces=True, groups={g})
        out[name] = (st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                     st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
    for name, (ctxt, g) in extra.items():
        ctxt.setPositions(x)
        st = ctxt.getState(getEnergy=True, getForces=True, groups={g})
        out[name] = (st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                     st.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
    return out


def random_rotation(rng):
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def md_frames(system, x0, temperature, n, spacing, seed, platform="CPU"):
    integ = mm.LangevinMiddleIntegrator(temperature * unit.kelvin, 1.0 / unit.picosecond,
                                       2.0 * unit.femtosecond)
    integ.setRandomNumberSeed(seed)
    ctx = context(system, platform, integ)
    ctx.setPositions(x0)
    ctx.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
    integ.step(10000)  # 20 ps equilibration
    frames = []
    for _ in range(n):
        integ.step(spacing)
        frames.append(ctx.getState(getPositions=True).getPositions(asNumpy=True)
                      .value_in_unit(unit.nanometer))
    return frames


def md_reference(system, x0, temperature, seeds, equil_ps=100.0, prod_ps=400.0, every=250):
    """OpenMM LangevinMiddle (2 fs, 1/ps, HBonds) mean potential energy per independent run."""
    runs = []
    for seed in seeds:
        integ = mm.LangevinMiddleIntegrator(temperature * unit.kelvin, 1.0 / unit.picosecond,
                                           2.0 * unit.femtosecond)
        integ.setRandomNumberSeed(seed)
        integ.setConstraintTolerance(1e-8)
        ctx = context(system, "CPU", integ)
        ctx.setPositions(x0)
        ctx.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
        integ.step(int(equil_ps / 0.002))
        e = []
        for _ in range(int(prod_ps / 0.002) // every):
            integ.step(every)
            e.append(ctx.getState(getEnergy=True).getPotentialEnergy()
                     .value_in_unit(unit.kilojoule_per_mole))
        runs.append(float(np.mean(e)))
    runs = np.array(runs)
    return {"temperature_k": temperature, "integrator": "LangevinMiddle 2 fs, 1/ps, HBonds, CPU",
            "equilibration_ps": equil_ps, "production_ps": prod_ps, "save_every_steps": every,
            "run_means": runs.tolist(), "mean": float(runs.mean()),
            "standard_error": float(runs.std(ddof=1) / math.sqrt(len(runs)))}


def make_configs(system, params, rng):
    xref = build_reference(params)
    ctx = context(system)
    ctx.setPositions(xref)
    mm.LocalEnergyMinimizer.minimize(ctx, 1e-6, 0)
    xmin = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    for x in (xref, xmin):  # L-chirality (targets.md §6.2)
        assert np.dot(x[6] - x[8], np.cross(x[14] - x[8], x[10] - x[8])) > 0
    phi, psi = dihedral(*xmin[[4, 6, 8, 14]]), dihedral(*xmin[[6, 8, 14, 16]])
    assert abs(phi + 144.6) < 1.0 and abs(psi - 159.2) < 1.0, (phi, psi)
    configs = [("reference_build", xref), ("openmm_minimum", xmin)]
    for temp, seed in [(300, 11), (600, 12), (1000, 13)]:
        for k, fr in enumerate(md_frames(system, xmin, temp, 4, 1000, seed)):
            configs.append(("md_%dK_%d" % (temp, k), fr))
    for k, s in enumerate([0.002, 0.005, 0.01, 0.02]):
        configs.append(("noise_%g" % s, xmin + rng.normal(scale=s, size=xmin.shape)))
    centre = xmin.mean(axis=0)
    for k, f in enumerate([0.8, 0.65]):  # compressed: exercises the GB branches
        configs.append(("compressed_%g" % f, centre + f * (xmin - centre)))
    for k, (name, x) in enumerate(list(configs[1:14:2])):
        rot = random_rotation(rng)
        configs.append(("rotated_" + name, x @ rot.T + rng.normal(scale=1.0, size=3)))
    return configs, xref, xmin


def export(args):
    top = build_topology()
    system, forces = build_system(top)
    params = export_params(top, system, forces)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "params.json"), "w") as fh:
        json.dump(params, fh, indent=1)
    with open(os.path.join(OUT, "system.xml"), "w") as fh:
        fh.write(mm.XmlSerializer.serialize(system))
    rng = np.random.default_rng(20240605)
    configs, xref, xmin = make_configs(system, params, rng)
    extra = {name: (context(s), g) for name, (s, g) in term_systems(system).items()}
    records = []
    for name, x in configs:
        ev = evaluate(system, extra, x)
        rec = {"name": name, "positions": np.asarray(x).reshape(-1).tolist(),
               "energy": {k: v[0] for k, v in ev.items()},
               "forces": {k: np.asarray(v[1]).reshape(-1).tolist() for k, v in ev.items()}}
        s = sum(rec["energy"][t] for t in TERMS)
        assert abs(s - rec["energy"]["total"]) < 1e-8 * max(1.0, abs(s)), (name, s, rec["energy"])
        records.append(rec)
    fixture = {
        "source": "OpenMM %s Reference platform; tools/export_alanine.py" % mm.__version__,
        "units": {"positions": "nm", "energy": "kJ/mol", "forces": "kJ/mol/nm"},
        "terms": TERMS,
        "openmm_minimum_phi_psi_deg": [dihedral(*xmin[[4, 6, 8, 14]]), dihedral(*xmin[[6, 8, 14, 16]])],
        "md_reference": [md_reference(system, xmin, t, [101, 102, 103, 104]) for t in (300, 600)],
        "configs": records,
    }
    with open(os.path.join(OUT, "fixture.json"), "w") as fh:
        json.dump(fixture, fh)
    print("wrote %d configs; OpenMM minimum phi, psi = %s" % (len(records),
          fixture["openmm_minimum_phi_psi_deg"]))


def timing(args):
    top = build_topology()
    system, _ = build_system(top)
    fx = json.load(open(os.path.join(OUT, "fixture.json")))
    x = np.array(fx["configs"][1]["positions"]).reshape(22, 3)
    for platform in ["Reference", "CPU"]:
        props = {"Threads": "1"} if platform == "CPU" else {}
        ctx = mm.Context(system, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName(platform),
                         props)
        ctx.setPositions(x)
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            ctx.setPositions(x)
            ctx.getState(getEnergy=True, getForces=True)
        dt = (time.perf_counter() - t0) / n
        integ = mm.LangevinMiddleIntegrator(600 * unit.kelvin, 1 / unit.picosecond,
                                           2 * unit.femtosecond)
        ctx2 = mm.Context(system, integ, mm.Platform.getPlatformByName(platform), props)
        ctx2.setPositions(x)
        ctx2.setVelocitiesToTemperature(600 * unit.kelvin, 1)
        integ.step(1000)
        steps = 20000
        t0 = time.perf_counter()
        integ.step(steps)
        md = (time.perf_counter() - t0) / steps
        print("%-9s (1 thread) energy+forces per config: %8.2f us (incl. setPositions/getState);"
              "  LangevinMiddle 2 fs: %8.2f us/step = %.0f steps/s = %.1f ns/day"
              % (platform, dt * 1e6, md * 1e6, 1 / md, 86400 / md * 2e-6))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timing", action="store_true", help="time OpenMM instead of exporting")
    a = ap.parse_args()
    timing(a) if a.timing else export(a)

//! 3-vector helpers and the internal coordinates (distance, angle, IUPAC dihedral) with gradients.

/// A point or vector in R³ (nm).
pub type Vec3 = [f64; 3];

#[inline]
pub(crate) fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[inline]
pub(crate) fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

#[inline]
pub(crate) fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[inline]
pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline]
pub(crate) fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// `acc += s · v`.
#[inline]
pub(crate) fn axpy(acc: &mut Vec3, s: f64, v: Vec3) {
    acc[0] += s * v[0];
    acc[1] += s * v[1];
    acc[2] += s * v[2];
}

/// Distance |b − a| in nm.
pub fn distance(a: Vec3, b: Vec3) -> f64 {
    norm(sub(b, a))
}

/// Angle ∠(a, b, c) at vertex b in rad, in [0, π] (atan2 form: accurate near 0 and π).
pub fn angle(a: Vec3, b: Vec3, c: Vec3) -> f64 {
    let u = sub(a, b);
    let v = sub(c, b);
    norm(cross(u, v)).atan2(dot(u, v))
}

/// IUPAC dihedral of (a, b, c, d) in rad, in (−π, π]: trans = π, positive when a must be turned
/// clockwise (seen along b → c) to eclipse d.
pub fn dihedral(a: Vec3, b: Vec3, c: Vec3, d: Vec3) -> f64 {
    let b0 = sub(b, a);
    let b1 = sub(c, b);
    let b2 = sub(d, c);
    let n1 = cross(b0, b1);
    let n2 = cross(b1, b2);
    (norm(b1) * dot(b0, n2)).atan2(dot(n1, n2))
}

/// Angle at vertex b and its gradient with respect to (a, b, c).
pub(crate) fn angle_grad(a: Vec3, b: Vec3, c: Vec3) -> (f64, [Vec3; 3]) {
    let u = sub(a, b);
    let v = sub(c, b);
    let n = cross(u, v);
    let nn = norm(n);
    let theta = nn.atan2(dot(u, v));
    // dθ/da = (u × n)/(|u|² |n|), dθ/dc = −(v × n)/(|v|² |n|)
    let ga = scale(cross(u, n), 1.0 / (dot(u, u) * nn));
    let gc = scale(cross(v, n), -1.0 / (dot(v, v) * nn));
    let gb = [-ga[0] - gc[0], -ga[1] - gc[1], -ga[2] - gc[2]];
    (theta, [ga, gb, gc])
}

/// IUPAC dihedral and its gradient with respect to (a, b, c, d) (Bekker's formulas).
pub(crate) fn dihedral_grad(a: Vec3, b: Vec3, c: Vec3, d: Vec3) -> (f64, [Vec3; 4]) {
    let b0 = sub(b, a);
    let b1 = sub(c, b);
    let b2 = sub(d, c);
    let n1 = cross(b0, b1);
    let n2 = cross(b1, b2);
    let l1 = norm(b1);
    let phi = (l1 * dot(b0, n2)).atan2(dot(n1, n2));
    let ga = scale(n1, -l1 / dot(n1, n1));
    let gd = scale(n2, l1 / dot(n2, n2));
    let f0 = dot(b0, b1) / (l1 * l1);
    let f2 = dot(b2, b1) / (l1 * l1);
    // dφ/db = −(1 + f0) dφ/da + f2 dφ/dd ; dφ/dc = f0 dφ/da − (1 + f2) dφ/dd
    let mut gb = scale(ga, -1.0 - f0);
    axpy(&mut gb, f2, gd);
    let mut gc = scale(gd, -1.0 - f2);
    axpy(&mut gc, f0, ga);
    (phi, [ga, gb, gc, gd])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd_check(f: impl Fn(&[Vec3]) -> f64, pts: &[Vec3], grad: &[Vec3]) {
        let h = 1e-6;
        for (p, g) in grad.iter().enumerate() {
            for k in 0..3 {
                let mut plus = pts.to_vec();
                let mut minus = pts.to_vec();
                plus[p][k] += h;
                minus[p][k] -= h;
                let fd = (f(&plus) - f(&minus)) / (2.0 * h);
                assert!(
                    (fd - g[k]).abs() < 1e-7,
                    "point {p} axis {k}: fd {fd} vs {}",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn dihedral_sign_is_iupac() {
        // a along +x, axis b → c along +z, d along +y: +90°.
        let phi = dihedral([1.0, 0.0, 0.0], [0.0; 3], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]);
        assert!((phi - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
    }

    #[test]
    fn angle_and_dihedral_gradients_match_finite_differences() {
        let pts = [
            [0.1, 0.02, -0.03],
            [0.0, 0.0, 0.0],
            [0.01, 0.13, 0.02],
            [0.12, 0.2, 0.09],
        ];
        let (_, g) = angle_grad(pts[0], pts[1], pts[2]);
        fd_check(|p| angle(p[0], p[1], p[2]), &pts[..3], &g);
        let (_, g) = dihedral_grad(pts[0], pts[1], pts[2], pts[3]);
        fd_check(|p| dihedral(p[0], p[1], p[2], p[3]), &pts, &g);
    }
}

//! `generalize`: dates and timestamps to their year (timestamps to their day with
//! `precision = "day"`), numbers rounded down to a multiple of `step`. A step no coarser than
//! what the column stores (an integer column and a step of 1 or less, `numeric(5,2)` and
//! 0.01, `numeric(3,-2)` and the default 10) would give every value back unchanged: it is
//! made ten times the column's own granularity instead.

use crate::datetime::{self, DateV};
use crate::encode;
use crate::numeric::{self, NumV, Step};
use crate::types::{ColumnType, Size, TypeKind, Wire};

/// The compiled options of `generalize`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Generalize {
    pub step: Step,
    /// Timestamps to January 1st (the default) instead of to midnight.
    pub year: bool,
}

/// `step`, or ten times the column's granularity when `step` is not coarser than it.
fn coarser_than_column(step: Step, ty: ColumnType) -> Step {
    // The column's granularity as `10^-k` (k may be negative: multiples of ten and more).
    let k: i64 = match (ty.kind, ty.size) {
        (TypeKind::Int { .. }, _) => 0,
        (TypeKind::Numeric, Size::Decimal { scale, .. }) => i64::from(scale),
        (TypeKind::Numeric, Size::Tens { tens }) => -i64::from(tens),
        _ => return step,
    };
    // step = m × 10^-step.k is coarser than 10^-k when m > 10^(step.k - k).
    let coarser = match u32::try_from(i64::from(step.k) - k) {
        Ok(e) => 10u128.checked_pow(e).is_none_or(|g| step.m > g),
        // step.k < k: the step's unit is already coarser, and m ≥ 1.
        Err(_) => true,
    };
    if coarser {
        return step;
    }
    match u32::try_from(k) {
        Ok(k) => Step { m: 1, k }.times_ten(),
        Err(_) => Step {
            m: 10u128.saturating_pow(u32::try_from(-k).unwrap_or(u32::MAX)),
            k: 0,
        }
        .times_ten(),
    }
}

/// Appends the generalized value; false (SQL NULL) for unsupported types or bad input.
pub(crate) fn generalize(g: &Generalize, ty: ColumnType, v: &[u8], out: &mut Vec<u8>) -> bool {
    let wire = ty.wire;
    let g = &Generalize {
        step: coarser_than_column(g.step, ty),
        year: g.year,
    };
    match ty.kind {
        TypeKind::Date => match datetime::decode_date(wire, v) {
            Some(DateV::At(d)) => datetime::encode_date(wire, DateV::At(datetime::year_of(d)), out),
            Some(inf) => datetime::encode_date(wire, inf, out),
            None => false,
        },
        TypeKind::Timestamp | TypeKind::TimestampTz => match datetime::decode_ts(wire, v) {
            Some(t) => datetime::encode_ts(ty.kind, wire, datetime::truncate_ts(t, g.year), out),
            None => false,
        },
        TypeKind::Int { bytes } => match encode::decode_int(bytes, wire, v) {
            Some(n) => match floor_int(n, g.step, bytes, wire) {
                Some(r) => encode::encode_int(bytes, wire, r, out),
                None => false,
            },
            None => false,
        },
        TypeKind::Float { bytes } => match encode::decode_float(bytes, wire, v) {
            Some(f) if !f.is_finite() => encode::encode_float(bytes, wire, f, out),
            Some(f) => match floor_float(f, g.step, bytes) {
                Some(r) => encode::encode_float(bytes, wire, r, out),
                None => false,
            },
            None => false,
        },
        TypeKind::Numeric => {
            let mut scratch = Vec::new();
            match numeric::decode_numeric(wire, v, &mut scratch) {
                Some(NumV::Fin(d)) => {
                    let r = numeric::floor_to_step(&d, g.step);
                    numeric::encode_numeric(wire, &NumV::Fin(r.as_dec()), out)
                }
                Some(special) => numeric::encode_numeric(wire, &special, out),
                None => false,
            }
        }
        _ => false,
    }
}

/// Rounds an integer down to a multiple of `step` (then down to an integer, for a
/// fractional step), clamped to the column's range.
fn floor_int(n: i128, step: Step, bytes: u8, wire: Wire) -> Option<i128> {
    let p = 10i128.checked_pow(step.k)?;
    let m = i128::try_from(step.m).ok()?;
    let scaled = n.checked_mul(p)?;
    let r = scaled.div_euclid(m).checked_mul(m)?.div_euclid(p);
    let (min, max) = encode::int_range(bytes, wire);
    Some(r.clamp(min, max))
}

/// Rounds a finite float down to a multiple of `step`, exactly (in decimal).
fn floor_float(f: f64, step: Step, bytes: u8) -> Option<f64> {
    if step.k == 0 && f.abs() < 1e30 {
        let m = i128::try_from(step.m).ok()?;
        let r = (f.floor() as i128).div_euclid(m).checked_mul(m)?;
        return Some(r as f64);
    }
    // The shortest decimal form of the value, floored in decimal arithmetic.
    let text = if bytes == 4 {
        format!("{}", f as f32)
    } else {
        format!("{f}")
    };
    let Some(NumV::Fin(d)) = numeric::parse_decimal_text(text.as_bytes()) else {
        return None;
    };
    let r = numeric::floor_to_step(&d, step);
    let mut out = Vec::new();
    numeric::write_decimal_text(&r.as_dec(), &mut out);
    std::str::from_utf8(&out).ok()?.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_and_floats() {
        let ten = Step::from_f64(10.0).unwrap();
        assert_eq!(floor_int(1234, ten, 4, Wire::PgText), Some(1230));
        assert_eq!(floor_int(-1, ten, 4, Wire::PgText), Some(-10));
        assert_eq!(floor_int(-32768, ten, 2, Wire::PgBinary), Some(-32768));
        let quarter = Step::from_f64(0.25).unwrap();
        assert_eq!(floor_int(7, quarter, 8, Wire::PgText), Some(7));
        assert_eq!(floor_float(12.7, ten, 8), Some(10.0));
        assert_eq!(floor_float(-0.5, ten, 8), Some(-10.0));
        assert_eq!(floor_float(0.3, Step::from_f64(0.1).unwrap(), 8), Some(0.3));
        assert_eq!(floor_float(1.26, quarter, 4), Some(1.25));
    }

    #[test]
    fn steps_finer_than_the_column_become_coarser() {
        let step = |f| Step::from_f64(f).unwrap();
        let numeric = |size| ColumnType {
            size,
            ..ColumnType::new(TypeKind::Numeric, Wire::PgText)
        };
        let int = ColumnType::new(TypeKind::Int { bytes: 4 }, Wire::PgText);
        assert_eq!(coarser_than_column(step(10.0), int), step(10.0));
        assert_eq!(coarser_than_column(step(0.25), int), step(10.0));
        assert_eq!(coarser_than_column(step(1.0), int), step(10.0));
        assert_eq!(coarser_than_column(step(2.0), int), step(2.0));
        let cents = numeric(Size::Decimal {
            precision: 5,
            scale: 2,
        });
        assert_eq!(coarser_than_column(step(0.01), cents), step(0.1));
        assert_eq!(coarser_than_column(step(0.05), cents), step(0.05));
        let hundreds = numeric(Size::Tens { tens: 2 });
        assert_eq!(coarser_than_column(step(10.0), hundreds), step(1000.0));
        assert_eq!(coarser_than_column(step(100.0), hundreds), step(1000.0));
        assert_eq!(coarser_than_column(step(5000.0), hundreds), step(5000.0));
        // numeric(3,-2) 12300 with the default step: not 12300.
        let g = Generalize {
            step: step(10.0),
            year: true,
        };
        let mut out = Vec::new();
        assert!(generalize(&g, hundreds, b"12300", &mut out));
        assert_eq!(out, b"12000");
    }
}

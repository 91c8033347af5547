//! Arbitrary-precision decimals: text form, PostgreSQL binary `numeric`, and the
//! little arithmetic `generalize` needs (floor to a multiple of a decimal step).

use crate::types::Wire;

/// A finite decimal as ASCII digit slices: `[-]int.frac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dec<'a> {
    pub neg: bool,
    pub int: &'a [u8],
    pub frac: &'a [u8],
}

/// A numeric column value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumV<'a> {
    Fin(Dec<'a>),
    NaN,
    PosInf,
    NegInf,
}

/// The NUMERIC sign words of PostgreSQL's binary format.
const POS: u16 = 0x0000;
const NEG: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

/// Parses decimal text: `[+-]digits[.digits]` (at least one digit), `NaN`, `Infinity`.
pub(crate) fn parse_decimal_text(v: &[u8]) -> Option<NumV<'_>> {
    match v {
        b"NaN" => return Some(NumV::NaN),
        b"Infinity" | b"+Infinity" => return Some(NumV::PosInf),
        b"-Infinity" => return Some(NumV::NegInf),
        _ => {}
    }
    let (neg, rest) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let (int, frac) = match rest.iter().position(|&b| b == b'.') {
        Some(p) => (&rest[..p], &rest[p + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let ok =
        (!int.is_empty() || !frac.is_empty()) && int.iter().chain(frac).all(u8::is_ascii_digit);
    ok.then_some(NumV::Fin(Dec { neg, int, frac }))
}

fn be16(v: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*v.get(i)?, *v.get(i + 1)?]))
}

/// Decodes a numeric column value; binary values are rendered as text into `scratch`.
pub(crate) fn decode_numeric<'a>(
    wire: Wire,
    v: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Option<NumV<'a>> {
    if wire != Wire::PgBinary {
        return parse_decimal_text(v);
    }
    let ndigits = be16(v, 0)? as i16;
    let weight = i32::from(be16(v, 2)? as i16);
    let sign = be16(v, 4)?;
    let dscale = usize::from(be16(v, 6)?);
    if ndigits < 0 || v.len() != 8 + 2 * ndigits as usize || dscale > 0x3FFF {
        return None;
    }
    match sign {
        NAN => return Some(NumV::NaN),
        PINF => return Some(NumV::PosInf),
        NINF => return Some(NumV::NegInf),
        POS | NEG => {}
        _ => return None,
    }
    let nd = ndigits as i32;
    let digit = |i: i32| -> Option<u16> {
        if i < 0 || i >= nd {
            return Some(0);
        }
        let g = be16(v, 8 + 2 * i as usize)?;
        (g <= 9999).then_some(g)
    };
    for i in 0..nd {
        digit(i)?;
    }
    scratch.clear();
    if sign == NEG {
        scratch.push(b'-');
    }
    if weight < 0 {
        scratch.push(b'0');
    } else {
        let mut started = false;
        for i in 0..=weight {
            let g = digit(i)?;
            for d in [g / 1000, g / 100 % 10, g / 10 % 10, g % 10] {
                if d != 0 || started {
                    started = true;
                    scratch.push(b'0' + d as u8);
                }
            }
        }
        if !started {
            scratch.push(b'0');
        }
    }
    if dscale > 0 {
        scratch.push(b'.');
        let mut written = 0;
        let mut i = weight + 1;
        while written < dscale {
            let g = digit(i)?;
            for d in [g / 1000, g / 100 % 10, g / 10 % 10, g % 10] {
                if written < dscale {
                    scratch.push(b'0' + d as u8);
                    written += 1;
                }
            }
            i += 1;
        }
    }
    parse_decimal_text(scratch)
}

fn strip_leading_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&b| b == b'0').count();
    &d[n..]
}

/// Whether a decimal is zero.
pub(crate) fn is_zero(d: &Dec<'_>) -> bool {
    d.int.iter().chain(d.frac).all(|&b| b == b'0')
}

/// Writes the canonical text form: no leading zeros, `0` for an empty integer part, the
/// scale kept, no sign on zero.
pub(crate) fn write_decimal_text(d: &Dec<'_>, out: &mut Vec<u8>) {
    if d.neg && !is_zero(d) {
        out.push(b'-');
    }
    let int = strip_leading_zeros(d.int);
    if int.is_empty() {
        out.push(b'0');
    } else {
        out.extend_from_slice(int);
    }
    if !d.frac.is_empty() {
        out.push(b'.');
        out.extend_from_slice(d.frac);
    }
}

/// Encodes a numeric value; false when the wire cannot carry it (NaN/infinity on MySQL,
/// or a value beyond PostgreSQL's limits).
pub(crate) fn encode_numeric(wire: Wire, n: &NumV<'_>, out: &mut Vec<u8>) -> bool {
    let d = match (wire, n) {
        (Wire::PgBinary, NumV::NaN) => return push_header(out, 0, 0, NAN, 0),
        (Wire::PgBinary, NumV::PosInf) => return push_header(out, 0, 0, PINF, 0),
        (Wire::PgBinary, NumV::NegInf) => return push_header(out, 0, 0, NINF, 0),
        (Wire::PgText, NumV::NaN) => {
            out.extend_from_slice(b"NaN");
            return true;
        }
        (Wire::PgText, NumV::PosInf) => {
            out.extend_from_slice(b"Infinity");
            return true;
        }
        (Wire::PgText, NumV::NegInf) => {
            out.extend_from_slice(b"-Infinity");
            return true;
        }
        (_, NumV::Fin(d)) => d,
        _ => return false,
    };
    if wire != Wire::PgBinary {
        write_decimal_text(d, out);
        return true;
    }
    let int = strip_leading_zeros(d.int);
    let frac = d.frac;
    let Ok(dscale) = u16::try_from(frac.len()) else {
        return false;
    };
    if dscale > 0x3FFF {
        return false;
    }
    let pad_left = (4 - int.len() % 4) % 4;
    let pad_right = (4 - frac.len() % 4) % 4;
    let total = pad_left + int.len() + frac.len() + pad_right;
    let int_groups = (pad_left + int.len()) / 4;
    let at = |p: usize| -> u16 {
        let b = if p < pad_left {
            b'0'
        } else if p < pad_left + int.len() {
            int[p - pad_left]
        } else if p < pad_left + int.len() + frac.len() {
            frac[p - pad_left - int.len()]
        } else {
            b'0'
        };
        u16::from(b - b'0')
    };
    let group = |g: usize| -> u16 {
        let p = g * 4;
        at(p) * 1000 + at(p + 1) * 100 + at(p + 2) * 10 + at(p + 3)
    };
    let groups = total / 4;
    let first = (0..groups).find(|&g| group(g) != 0);
    let Some(first) = first else {
        return push_header(out, 0, 0, POS, dscale);
    };
    let last = (0..groups).rev().find(|&g| group(g) != 0).unwrap_or(first);
    let (Ok(ndigits), Ok(weight)) = (
        i16::try_from(last - first + 1),
        i16::try_from(int_groups as i64 - 1 - first as i64),
    ) else {
        return false;
    };
    push_header(out, ndigits, weight, if d.neg { NEG } else { POS }, dscale);
    for g in first..=last {
        out.extend_from_slice(&group(g).to_be_bytes());
    }
    true
}

fn push_header(out: &mut Vec<u8>, ndigits: i16, weight: i16, sign: u16, dscale: u16) -> bool {
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    true
}

/// A decimal step `m × 10^-k`, as `generalize` takes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Step {
    pub m: u128,
    pub k: u32,
}

impl Step {
    /// Ten times this step.
    pub(crate) fn times_ten(self) -> Step {
        match self.k {
            0 => Step {
                m: self.m.saturating_mul(10),
                k: 0,
            },
            k => Step {
                m: self.m,
                k: k - 1,
            },
        }
    }

    /// From a positive finite `f64`, exactly as its shortest decimal form reads.
    pub(crate) fn from_f64(step: f64) -> Result<Step, String> {
        if !step.is_finite() || step <= 0.0 {
            return Err(format!(
                "`step` must be a positive finite number, got {step}"
            ));
        }
        let text = format!("{step}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        let k = frac.len() as u32;
        match digits.parse::<u128>() {
            Ok(m) if m > 0 && m < 10u128.pow(36) && k <= 18 => Ok(Step { m, k }),
            _ => Err(format!("`step` = {step} is too large or too precise (at most 36 significant digits, 18 decimals)")),
        }
    }
}

fn mod_small(d: &[u8], m: u128) -> u128 {
    d.iter()
        .fold(0u128, |r, &b| (r * 10 + u128::from(b - b'0')) % m)
}

fn sub_small(d: &mut [u8], mut x: u128) {
    for b in d.iter_mut().rev() {
        if x == 0 {
            break;
        }
        let sub = (x % 10) as u8;
        x /= 10;
        if *b - b'0' >= sub {
            *b -= sub;
        } else {
            *b = *b + 10 - sub;
            x += 1;
        }
    }
}

fn add_small(d: &mut Vec<u8>, mut x: u128) {
    for b in d.iter_mut().rev() {
        if x == 0 {
            return;
        }
        let s = u128::from(*b - b'0') + x % 10;
        x /= 10;
        *b = b'0' + (s % 10) as u8;
        x += s / 10;
    }
    while x > 0 {
        d.insert(0, b'0' + (x % 10) as u8);
        x /= 10;
    }
}

/// An owned decimal result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecOwned {
    pub neg: bool,
    pub int: Vec<u8>,
    pub frac: Vec<u8>,
}

impl DecOwned {
    pub(crate) fn as_dec(&self) -> Dec<'_> {
        Dec {
            neg: self.neg,
            int: &self.int,
            frac: &self.frac,
        }
    }
}

/// Rounds `d` down (towards negative infinity) to a multiple of `step`, keeping the scale
/// of `d` (or the step's, if finer and needed).
pub(crate) fn floor_to_step(d: &Dec<'_>, step: Step) -> DecOwned {
    let k = step.k as usize;
    let mut s: Vec<u8> = Vec::with_capacity(d.int.len() + k + 1);
    s.extend_from_slice(d.int);
    for i in 0..k {
        s.push(*d.frac.get(i).unwrap_or(&b'0'));
    }
    let rest_nonzero = d
        .frac
        .get(k..)
        .is_some_and(|r| r.iter().any(|&b| b != b'0'));
    if s.is_empty() {
        s.push(b'0');
    }
    let neg = d.neg && !is_zero(d);
    if neg {
        if rest_nonzero {
            add_small(&mut s, 1);
        }
        let r = mod_small(&s, step.m);
        if r != 0 {
            add_small(&mut s, step.m - r);
        }
    } else {
        let r = mod_small(&s, step.m);
        sub_small(&mut s, r);
    }
    // Put the decimal point back.
    while s.len() <= k {
        s.insert(0, b'0');
    }
    let mut frac = s.split_off(s.len() - k);
    let scale = d.frac.len();
    if frac.len() < scale {
        frac.resize(scale, b'0');
    }
    while frac.len() > scale && frac.last() == Some(&b'0') {
        frac.pop();
    }
    let int = strip_leading_zeros(&s).to_vec();
    let zero = int.is_empty() && frac.iter().all(|&b| b == b'0');
    DecOwned {
        neg: neg && !zero,
        int,
        frac,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fin(s: &str) -> Dec<'_> {
        match parse_decimal_text(s.as_bytes()) {
            Some(NumV::Fin(d)) => d,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn text(d: &Dec<'_>) -> String {
        let mut out = Vec::new();
        write_decimal_text(d, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn binary_round_trip() {
        for s in [
            "0",
            "0.00",
            "1",
            "-1",
            "12345.678",
            "0.0001",
            "-0.00012",
            "10000",
            "99999999.99990",
            "100000000",
        ] {
            let mut bin = Vec::new();
            assert!(encode_numeric(Wire::PgBinary, &NumV::Fin(fin(s)), &mut bin));
            let mut scratch = Vec::new();
            let back = decode_numeric(Wire::PgBinary, &bin, &mut scratch).unwrap();
            let NumV::Fin(back) = back else { panic!() };
            assert_eq!(text(&back), text(&fin(s)), "{s}");
        }
        let mut bin = Vec::new();
        assert!(encode_numeric(
            Wire::PgBinary,
            &NumV::Fin(fin("12345.678")),
            &mut bin
        ));
        // ndigits 3, weight 1, pos, dscale 3, digits 1 2345 6780
        assert_eq!(bin, [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]);
        bin.clear();
        assert!(encode_numeric(
            Wire::PgBinary,
            &NumV::Fin(fin("0")),
            &mut bin
        ));
        assert_eq!(bin, [0; 8]);
    }

    #[test]
    fn floors() {
        let s10 = Step::from_f64(10.0).unwrap();
        assert_eq!(text(&floor_to_step(&fin("123.45"), s10).as_dec()), "120.00");
        assert_eq!(text(&floor_to_step(&fin("-1.5"), s10).as_dec()), "-10.0");
        assert_eq!(text(&floor_to_step(&fin("-10"), s10).as_dec()), "-10");
        assert_eq!(text(&floor_to_step(&fin("9"), s10).as_dec()), "0");
        assert_eq!(text(&floor_to_step(&fin("-95"), s10).as_dec()), "-100");
        let half = Step::from_f64(0.5).unwrap();
        assert_eq!(half, Step { m: 5, k: 1 });
        assert_eq!(text(&floor_to_step(&fin("7.74"), half).as_dec()), "7.50");
        assert_eq!(text(&floor_to_step(&fin("-7.2"), half).as_dec()), "-7.5");
        assert!(Step::from_f64(0.0).is_err());
        assert!(Step::from_f64(f64::NAN).is_err());
    }
}

//! Fitting a masked value into its column's declared size (`varchar(n)`, `char(n)`,
//! `numeric(p, s)`, MySQL column lengths), so that a masked dump restores without
//! truncation or strict-mode errors.
//!
//! Each function first produces its usual output; only an output that does not fit is
//! reshaped, into a shorter form of the same function: a hash keeps its first n hex
//! digits (still deterministic), an e-mail mask writes fewer stars before the domain,
//! other text is cut to n characters, and a number keeps its last integer digits (hash)
//! or is clamped to the largest value the column holds (every other function).

use crate::numeric::{self, Dec, NumV};
use crate::text;
use crate::types::{ColumnType, Size, TypeKind, Wire};

/// How a function's output is shortened when it does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shorten {
    /// Cut text to the limit; clamp numbers into range.
    Cut,
    /// `hash`: cut text; keep a number's last integer digits, so equal inputs still give
    /// equal outputs and different ones rarely collide.
    Hash,
    /// `email`: fewer stars before the domain (the part the mask hides stays hidden).
    Email,
}

/// Makes `out[start..]`, the masked value of a column of type `ty`, fit its size. `input`
/// is the unmasked value (the e-mail mask is redone from it). False when no valid value
/// fits (the caller sends NULL).
pub(crate) fn fit(
    ty: ColumnType,
    how: Shorten,
    input: &[u8],
    out: &mut Vec<u8>,
    start: usize,
) -> bool {
    match (ty.kind, ty.size) {
        (TypeKind::Text, Size::Chars(n)) => {
            fit_text(how, n, input, out, start);
            true
        }
        (TypeKind::Numeric, Size::Decimal { precision, scale }) => {
            fit_numeric(ty.wire, how, precision, scale, out, start)
        }
        (TypeKind::Bytes, Size::Bits(bits)) => {
            fit_bits(bits, out, start);
            true
        }
        _ => true,
    }
}

/// A `BIT(bits)` value: exactly `ceil(bits / 8)` bytes (the last ones of the masked output,
/// or it padded with zeros), with the bits above `bits` cleared, so that the value is one the
/// column stores.
fn fit_bits(bits: u32, out: &mut Vec<u8>, start: usize) {
    let bytes = bits.div_ceil(8) as usize;
    let len = out.len() - start;
    if len > bytes {
        out.drain(start..start + len - bytes);
    } else {
        // MySQL sends a BIT value as exactly that many bytes.
        out.splice(start..start, std::iter::repeat_n(0, bytes - len));
    }
    let spare = bytes as u32 * 8 - bits;
    if spare > 0 {
        out[start] &= 0xFF >> spare;
    }
}

fn fit_text(how: Shorten, n: u32, input: &[u8], out: &mut Vec<u8>, start: usize) {
    let n = u64::from(n);
    if text::char_count(&out[start..]) <= n {
        return;
    }
    if how == Shorten::Email {
        out.truncate(start);
        text::email_within(input, n, out);
        if text::char_count(&out[start..]) <= n {
            return;
        }
    }
    let keep: usize = text::chars(&out[start..])
        .take(n as usize)
        .map(<[u8]>::len)
        .sum();
    out.truncate(start + keep);
}

/// The largest integer part a `numeric(p, s)` column holds: `p - s` nines.
const NINES: &[u8] = b"99999999999999999999999999999999999999999999999999999999999999999";

fn fit_numeric(
    wire: Wire,
    how: Shorten,
    precision: u16,
    scale: u16,
    out: &mut Vec<u8>,
    start: usize,
) -> bool {
    let (int_max, scale) = (usize::from(precision - scale), usize::from(scale));
    let mut scratch = Vec::new();
    let produced = out[start..].to_vec();
    let Some(n) = numeric::decode_numeric(wire, &produced, &mut scratch) else {
        return false;
    };
    let d = match n {
        // NaN fits any numeric column; infinities only unconstrained ones.
        NumV::NaN => return true,
        NumV::PosInf | NumV::NegInf => Dec {
            neg: n == NumV::NegInf,
            int: &NINES[..int_max.min(NINES.len())],
            frac: &NINES[..scale.min(NINES.len())],
        },
        NumV::Fin(d) => d,
    };
    let lead = d.int.iter().take_while(|&&b| b == b'0').count();
    let int = &d.int[lead..];
    if int.len() <= int_max && d.frac.len() <= scale && matches!(n, NumV::Fin(_)) {
        return true;
    }
    let (int, frac) = if int.len() <= int_max {
        (int, &d.frac[..d.frac.len().min(scale)])
    } else if how == Shorten::Hash {
        (
            &int[int.len() - int_max..],
            &d.frac[..d.frac.len().min(scale)],
        )
    } else {
        (
            &NINES[..int_max.min(NINES.len())],
            &NINES[..scale.min(NINES.len())],
        )
    };
    let fitted = NumV::Fin(Dec {
        neg: d.neg,
        int,
        frac,
    });
    out.truncate(start);
    numeric::encode_numeric(wire, &fitted, out)
}

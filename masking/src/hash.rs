//! `hash`: keyed HMAC-SHA-256, deterministic and type-valid; also the keyed digit
//! stream `digits` uses.

use std::io::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::encode::{self, HEX};
use crate::numeric::{self, Dec, NumV};
use crate::types::{ColumnType, TypeKind};

/// HMAC-SHA-256 with the key already absorbed (cloned per value, the key is not rehashed).
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Keys an HMAC.
pub(crate) fn new_mac(key: &[u8]) -> Result<HmacSha256, String> {
    <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|e| format!("bad key: {e}"))
}

/// HMAC over the concatenation of `parts`.
pub(crate) fn digest(mac: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = mac.clone();
    for p in parts {
        m.update(p);
    }
    finish(m)
}

fn finish(m: HmacSha256) -> [u8; 32] {
    let bytes = m.finalize().into_bytes();
    let mut d = [0u8; 32];
    d.copy_from_slice(&bytes);
    d
}

/// Writes `n` in decimal into a stack buffer.
pub(crate) fn decimal(n: i128, buf: &mut [u8; 48]) -> &[u8] {
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{n}");
    let len = cur.position() as usize;
    &buf[..len]
}

fn u64_of(d: &[u8; 32]) -> u64 {
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Appends the keyed hash of `value` as a value of `ty`; false for types it cannot
/// represent (SQL NULL).
pub(crate) fn hash(mac: &HmacSha256, ty: ColumnType, value: &[u8], out: &mut Vec<u8>) -> bool {
    let wire = ty.wire;
    match ty.kind {
        TypeKind::Text => {
            let d = digest(mac, &[value]);
            for b in &d[..16] {
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            true
        }
        TypeKind::Int { bytes } => {
            let Some(n) = encode::decode_int(bytes, wire, value) else {
                return false;
            };
            let mut buf = [0u8; 48];
            let d = digest(mac, &[decimal(n, &mut buf)]);
            let mask = encode::signed_range(bytes).1 as u64;
            encode::encode_int(bytes, wire, i128::from(u64_of(&d) & mask), out)
        }
        TypeKind::Uuid => {
            let Some(u) = encode::decode_uuid(wire, value) else {
                return false;
            };
            let d = digest(mac, &[&encode::uuid_text(&u)]);
            let mut x = [0u8; 16];
            x.copy_from_slice(&d[..16]);
            x[6] = (x[6] & 0x0f) | 0x40;
            x[8] = (x[8] & 0x3f) | 0x80;
            encode::encode_uuid(wire, &x, out);
            true
        }
        TypeKind::Bytes => {
            let mut m = mac.clone();
            if !encode::decode_bytes(wire, value, &mut |c| m.update(c)) {
                return false;
            }
            encode::encode_bytes(wire, &finish(m), out);
            true
        }
        TypeKind::Numeric => {
            let mut scratch = Vec::new();
            let Some(n) = numeric::decode_numeric(wire, value, &mut scratch) else {
                return false;
            };
            let (d, int_digits) = match n {
                NumV::Fin(x) => {
                    // The canonical text form, fed in parts (no allocation).
                    let lead = x.int.iter().take_while(|&&b| b == b'0').count();
                    let int = &x.int[lead..];
                    let neg: &[u8] = if x.neg && !numeric::is_zero(&x) {
                        b"-"
                    } else {
                        b""
                    };
                    let int_text: &[u8] = if int.is_empty() { b"0" } else { int };
                    let dot: &[u8] = if x.frac.is_empty() { b"" } else { b"." };
                    (
                        digest(mac, &[neg, int_text, dot, x.frac]),
                        int.len().clamp(1, 18),
                    )
                }
                NumV::NaN => (digest(mac, &[b"NaN"]), 1),
                NumV::PosInf => (digest(mac, &[b"Infinity"]), 1),
                NumV::NegInf => (digest(mac, &[b"-Infinity"]), 1),
            };
            // Same count of integer digits as the input, so it fits the column's precision.
            let lo = if int_digits == 1 {
                0
            } else {
                10u64.pow(int_digits as u32 - 1)
            };
            let hi = 10u64.pow(int_digits as u32) - 1;
            let v = lo + u64_of(&d) % (hi - lo + 1);
            let mut buf = [0u8; 48];
            let int = decimal(i128::from(v), &mut buf);
            let dec = NumV::Fin(Dec {
                neg: false,
                int,
                frac: b"",
            });
            numeric::encode_numeric(wire, &dec, out)
        }
        _ => false,
    }
}

/// A keyed stream of decimal digits for one value: block `i` is
/// `HMAC(key, i as u32 big-endian || value)`, each byte giving one digit. Without a key
/// every digit is `0`.
pub(crate) struct DigitStream<'a> {
    mac: Option<&'a HmacSha256>,
    input: &'a [u8],
    block: [u8; 32],
    used: usize,
    counter: u32,
}

impl<'a> DigitStream<'a> {
    pub(crate) fn new(mac: Option<&'a HmacSha256>, input: &'a [u8]) -> Self {
        DigitStream {
            mac,
            input,
            block: [0; 32],
            used: 32,
            counter: 0,
        }
    }

    /// The next raw pseudo-random 64-bit value (keyed), or 0 without a key.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut v = 0u64;
        for _ in 0..8 {
            v = (v << 8) | u64::from(self.next_byte());
        }
        v
    }

    fn next_byte(&mut self) -> u8 {
        let Some(mac) = self.mac else {
            return 0;
        };
        if self.used == self.block.len() {
            self.block = digest(mac, &[&self.counter.to_be_bytes(), self.input]);
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        b
    }

    /// The next ASCII digit.
    pub(crate) fn next_digit(&mut self) -> u8 {
        b'0' + self.next_byte() % 10
    }
}

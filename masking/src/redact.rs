//! `redact`: a fixed, type-valid replacement for every type.

use crate::datetime::{self, DateV, Hms, Ts, TsV, Ymd};
use crate::encode;
use crate::numeric::{self, Dec, NumV};
use crate::types::{ColumnType, TypeKind};

/// What `redact` writes for text values.
pub(crate) const REDACTED: &[u8] = b"[REDACTED]";

/// The Unix epoch, as a date.
pub(crate) const EPOCH: Ymd = Ymd {
    y: 1970,
    m: 1,
    d: 1,
};

/// Appends the redacted value of `ty` to `out`; false for [`TypeKind::Other`] (SQL NULL).
/// Only `jsonb` detection looks at `value`.
pub(crate) fn redact(ty: ColumnType, value: &[u8], out: &mut Vec<u8>) -> bool {
    let wire = ty.wire;
    match ty.kind {
        TypeKind::Text => {
            out.extend_from_slice(REDACTED);
            true
        }
        TypeKind::Bytes => {
            encode::encode_bytes(wire, &[], out);
            true
        }
        TypeKind::Int { bytes } => encode::encode_int(bytes, wire, 0, out),
        TypeKind::Float { bytes } => encode::encode_float(bytes, wire, 0.0, out),
        TypeKind::Numeric => {
            let zero = NumV::Fin(Dec {
                neg: false,
                int: b"0",
                frac: b"",
            });
            numeric::encode_numeric(wire, &zero, out)
        }
        TypeKind::Bool => {
            encode::encode_bool(wire, false, out);
            true
        }
        TypeKind::Date => datetime::encode_date(wire, DateV::At(EPOCH), out),
        TypeKind::Timestamp | TypeKind::TimestampTz => {
            let t = Ts {
                date: EPOCH,
                h: 0,
                mi: 0,
                s: 0,
                us: 0,
                offset: None,
            };
            datetime::encode_ts(ty.kind, wire, TsV::At(t), out)
        }
        TypeKind::Time => datetime::encode_time(
            wire,
            Hms {
                h: 0,
                mi: 0,
                s: 0,
                us: 0,
            },
            out,
        ),
        TypeKind::Uuid => {
            encode::encode_uuid(wire, &[0; 16], out);
            true
        }
        TypeKind::Json => {
            encode::encode_json(encode::is_jsonb(wire, value), b"null", out);
            true
        }
        TypeKind::Other => false,
    }
}

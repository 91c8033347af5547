//! `constant`: a configured value, parsed once for every type it can stand for.

use crate::datetime::{self, DateV, Hms, TsV};
use crate::encode;
use crate::json;
use crate::numeric::{self, DecOwned, NumV};
use crate::types::{ColumnType, TypeKind, Wire};

/// A numeric constant, owned.
#[derive(Clone, Debug, PartialEq)]
enum NumOwned {
    Fin(DecOwned),
    NaN,
    PosInf,
    NegInf,
}

/// The constant, pre-parsed as each type (`None` where it does not parse as that type).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Constant {
    raw: Vec<u8>,
    int: Option<i128>,
    float: Option<f64>,
    numeric: Option<NumOwned>,
    boolean: Option<bool>,
    date: Option<DateV>,
    ts: Option<TsV>,
    time: Option<Hms>,
    uuid: Option<[u8; 16]>,
    json: bool,
}

impl Constant {
    pub(crate) fn new(value: &str) -> Constant {
        let raw = value.as_bytes();
        let t = raw.trim_ascii();
        let numeric = match numeric::parse_decimal_text(t) {
            Some(NumV::Fin(d)) => Some(NumOwned::Fin(DecOwned {
                neg: d.neg,
                int: d.int.to_vec(),
                frac: d.frac.to_vec(),
            })),
            Some(NumV::NaN) => Some(NumOwned::NaN),
            Some(NumV::PosInf) => Some(NumOwned::PosInf),
            Some(NumV::NegInf) => Some(NumOwned::NegInf),
            None => None,
        };
        Constant {
            raw: raw.to_vec(),
            int: encode::parse_int_text(t),
            float: value.trim().parse::<f64>().ok(),
            numeric,
            boolean: encode::parse_bool_text(t),
            date: datetime::parse_date_text(t, false),
            ts: datetime::parse_ts_text(t, false, true),
            time: datetime::parse_time_text(t, true),
            uuid: encode::parse_uuid_text(t),
            json: json::is_valid(raw),
        }
    }

    /// Appends the constant as a value of `ty`; false when it is not one (SQL NULL).
    pub(crate) fn apply(&self, ty: ColumnType, value: &[u8], out: &mut Vec<u8>) -> bool {
        let wire = ty.wire;
        match ty.kind {
            TypeKind::Text => {
                out.extend_from_slice(&self.raw);
                true
            }
            TypeKind::Bytes => {
                encode::encode_bytes(wire, &self.raw, out);
                true
            }
            TypeKind::Int { bytes } => self
                .int
                .is_some_and(|n| encode::encode_int(bytes, wire, n, out)),
            TypeKind::Float { bytes } => self
                .float
                .is_some_and(|f| encode::encode_float(bytes, wire, f, out)),
            TypeKind::Numeric => match &self.numeric {
                Some(NumOwned::Fin(d)) => {
                    numeric::encode_numeric(wire, &NumV::Fin(d.as_dec()), out)
                }
                Some(NumOwned::NaN) => numeric::encode_numeric(wire, &NumV::NaN, out),
                Some(NumOwned::PosInf) => numeric::encode_numeric(wire, &NumV::PosInf, out),
                Some(NumOwned::NegInf) => numeric::encode_numeric(wire, &NumV::NegInf, out),
                None => false,
            },
            TypeKind::Bool => match self.boolean {
                Some(b) => {
                    encode::encode_bool(wire, b, out);
                    true
                }
                None => false,
            },
            TypeKind::Date => self
                .date
                .is_some_and(|d| datetime::encode_date(wire, d, out)),
            TypeKind::Timestamp | TypeKind::TimestampTz => self
                .ts
                .is_some_and(|t| datetime::encode_ts(ty.kind, wire, t, out)),
            TypeKind::Time => match self.time {
                Some(t) if matches!(wire, Wire::PgText | Wire::PgBinary) && t.h > 24 => false,
                Some(t) => datetime::encode_time(wire, t, out),
                None => false,
            },
            TypeKind::Uuid => match self.uuid {
                Some(u) => {
                    encode::encode_uuid(wire, &u, out);
                    true
                }
                None => false,
            },
            TypeKind::Json if self.json => {
                encode::encode_json(encode::is_jsonb(wire, value), &self.raw, out);
                true
            }
            TypeKind::Json | TypeKind::Other => false,
        }
    }
}

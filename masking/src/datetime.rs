//! Dates, timestamps and times: text and binary forms on both protocols.

use std::io::Write as _;

pub(crate) use crate::dateparse::{parse_date_text, parse_time_text, parse_ts_text};
use crate::types::{TypeKind, Wire};

/// Days from 1970-01-01 to 2000-01-01 (the PostgreSQL epoch).
const PG_EPOCH_DAYS: i64 = 10_957;
/// Microseconds per day.
const DAY_US: i64 = 86_400_000_000;

/// A calendar date (proleptic Gregorian, astronomical years: 1 BC is year 0). MySQL's
/// zero date and zero-in-date values have month or day 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ymd {
    pub y: i32,
    pub m: u8,
    pub d: u8,
}

/// A date column value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateV {
    At(Ymd),
    /// PostgreSQL `infinity`.
    PosInf,
    /// PostgreSQL `-infinity`.
    NegInf,
}

/// A timestamp value: local fields plus the UTC offset in seconds if the text had one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ts {
    pub date: Ymd,
    pub h: u8,
    pub mi: u8,
    pub s: u8,
    pub us: u32,
    pub offset: Option<i32>,
}

/// A timestamp column value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TsV {
    At(Ts),
    PosInf,
    NegInf,
}

/// A time of day (non-negative; MySQL hours may exceed 23).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hms {
    pub h: u32,
    pub mi: u8,
    pub s: u8,
    pub us: u32,
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> Option<Ymd> {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    Some(Ymd {
        y: i32::try_from(y).ok()?,
        m,
        d,
    })
}

/// Writes `YYYY-MM-DD`; PostgreSQL (`bc`) writes years before 1 as BC years (the caller
/// appends ` BC`), MySQL has a year 0.
fn write_year_date(d: Ymd, bc: bool, out: &mut Vec<u8>) {
    let y = if bc && d.y <= 0 {
        1 - i64::from(d.y)
    } else {
        i64::from(d.y)
    };
    let _ = write!(out, "{y:04}-{:02}-{:02}", d.m, d.d);
}

fn write_frac(us: u32, out: &mut Vec<u8>) {
    if us != 0 {
        let mut f = us;
        let mut width = 6;
        while f % 10 == 0 {
            f /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{f:0width$}");
    }
}

fn write_offset(secs: i32, out: &mut Vec<u8>) {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let _ = write!(out, "{sign}{:02}", a / 3600);
    if a % 3600 != 0 {
        let _ = write!(out, ":{:02}", a % 3600 / 60);
        if a % 60 != 0 {
            let _ = write!(out, ":{:02}", a % 60);
        }
    }
}

/// Decodes a date column value.
pub(crate) fn decode_date(wire: Wire, v: &[u8]) -> Option<DateV> {
    match wire {
        Wire::PgText => parse_date_text(v, false),
        Wire::MySqlText => parse_date_text(v, true),
        Wire::PgBinary => {
            let n = i32::from_be_bytes(v.try_into().ok()?);
            match n {
                i32::MAX => Some(DateV::PosInf),
                i32::MIN => Some(DateV::NegInf),
                _ => civil_from_days(i64::from(n) + PG_EPOCH_DAYS).map(DateV::At),
            }
        }
        Wire::MySqlBinary => mysql_binary_date(v).map(DateV::At),
    }
}

fn mysql_binary_date(v: &[u8]) -> Option<Ymd> {
    match v.len() {
        0 => Some(Ymd { y: 0, m: 0, d: 0 }),
        4 | 7 | 11 => {
            let y = i32::from(u16::from_le_bytes([v[0], v[1]]));
            (v[2] <= 12 && v[3] <= 31).then_some(Ymd {
                y,
                m: v[2],
                d: v[3],
            })
        }
        _ => None,
    }
}

/// Encodes a date; false when the wire cannot carry it.
pub(crate) fn encode_date(wire: Wire, d: DateV, out: &mut Vec<u8>) -> bool {
    match (wire, d) {
        (Wire::PgText, DateV::PosInf) => out.extend_from_slice(b"infinity"),
        (Wire::PgText, DateV::NegInf) => out.extend_from_slice(b"-infinity"),
        (Wire::PgBinary, DateV::PosInf) => out.extend_from_slice(&i32::MAX.to_be_bytes()),
        (Wire::PgBinary, DateV::NegInf) => out.extend_from_slice(&i32::MIN.to_be_bytes()),
        (_, DateV::PosInf | DateV::NegInf) => return false,
        (Wire::PgText, DateV::At(d)) => {
            write_year_date(d, true, out);
            if d.y <= 0 {
                out.extend_from_slice(b" BC");
            }
        }
        (Wire::PgBinary, DateV::At(d)) => {
            let Ok(n) = i32::try_from(days_from_civil(d.y, d.m, d.d) - PG_EPOCH_DAYS) else {
                return false;
            };
            out.extend_from_slice(&n.to_be_bytes());
        }
        (Wire::MySqlText, DateV::At(d)) => {
            if !(0..=9999).contains(&d.y) {
                return false;
            }
            write_year_date(d, false, out);
        }
        (Wire::MySqlBinary, DateV::At(d)) => {
            let Ok(y) = u16::try_from(d.y) else {
                return false;
            };
            out.extend_from_slice(&y.to_le_bytes());
            out.extend_from_slice(&[d.m, d.d]);
        }
    }
    true
}

/// Decodes a timestamp column value.
pub(crate) fn decode_ts(wire: Wire, v: &[u8]) -> Option<TsV> {
    match wire {
        Wire::PgText => parse_ts_text(v, false, false),
        Wire::MySqlText => parse_ts_text(v, true, false),
        Wire::PgBinary => {
            let us = i64::from_be_bytes(v.try_into().ok()?);
            match us {
                i64::MAX => Some(TsV::PosInf),
                i64::MIN => Some(TsV::NegInf),
                _ => pg_us_to_ts(us).map(TsV::At),
            }
        }
        Wire::MySqlBinary => {
            let date = mysql_binary_date(v)?;
            let mut ts = Ts {
                date,
                h: 0,
                mi: 0,
                s: 0,
                us: 0,
                offset: None,
            };
            if v.len() >= 7 {
                (ts.h, ts.mi, ts.s) = (v[4], v[5], v[6]);
                if ts.h > 23 || ts.mi > 59 || ts.s > 59 {
                    return None;
                }
            }
            if v.len() == 11 {
                ts.us = u32::from_le_bytes([v[7], v[8], v[9], v[10]]);
                if ts.us > 999_999 {
                    return None;
                }
            }
            Some(TsV::At(ts))
        }
    }
}

fn pg_us_to_ts(us: i64) -> Option<Ts> {
    let days = us.div_euclid(DAY_US);
    let rem = us.rem_euclid(DAY_US);
    let date = civil_from_days(days + PG_EPOCH_DAYS)?;
    let secs = rem / 1_000_000;
    Some(Ts {
        date,
        h: (secs / 3600) as u8,
        mi: (secs % 3600 / 60) as u8,
        s: (secs % 60) as u8,
        us: (rem % 1_000_000) as u32,
        offset: None,
    })
}

fn ts_to_pg_us(t: &Ts) -> Option<i64> {
    let days = days_from_civil(t.date.y, t.date.m, t.date.d) - PG_EPOCH_DAYS;
    let secs = i64::from(t.h) * 3600 + i64::from(t.mi) * 60 + i64::from(t.s)
        - i64::from(t.offset.unwrap_or(0));
    days.checked_mul(DAY_US)?
        .checked_add(secs.checked_mul(1_000_000)?)?
        .checked_add(i64::from(t.us))
        .filter(|n| *n != i64::MAX && *n != i64::MIN)
}

/// Encodes a timestamp of kind `Timestamp` or `TimestampTz`; false when not representable.
pub(crate) fn encode_ts(kind: TypeKind, wire: Wire, t: TsV, out: &mut Vec<u8>) -> bool {
    let tz = kind == TypeKind::TimestampTz;
    match (wire, t) {
        (Wire::PgText, TsV::PosInf) => out.extend_from_slice(b"infinity"),
        (Wire::PgText, TsV::NegInf) => out.extend_from_slice(b"-infinity"),
        (Wire::PgBinary, TsV::PosInf) => out.extend_from_slice(&i64::MAX.to_be_bytes()),
        (Wire::PgBinary, TsV::NegInf) => out.extend_from_slice(&i64::MIN.to_be_bytes()),
        (_, TsV::PosInf | TsV::NegInf) => return false,
        (Wire::PgText, TsV::At(t)) => {
            write_year_date(t.date, true, out);
            let _ = write!(out, " {:02}:{:02}:{:02}", t.h, t.mi, t.s);
            write_frac(t.us, out);
            if tz {
                write_offset(t.offset.unwrap_or(0), out);
            }
            if t.date.y <= 0 {
                out.extend_from_slice(b" BC");
            }
        }
        (Wire::PgBinary, TsV::At(mut t)) => {
            if !tz {
                t.offset = None;
            }
            let Some(us) = ts_to_pg_us(&t) else {
                return false;
            };
            out.extend_from_slice(&us.to_be_bytes());
        }
        (Wire::MySqlText, TsV::At(t)) => {
            if !(0..=9999).contains(&t.date.y) {
                return false;
            }
            write_year_date(t.date, false, out);
            let _ = write!(out, " {:02}:{:02}:{:02}", t.h, t.mi, t.s);
            write_frac(t.us, out);
        }
        (Wire::MySqlBinary, TsV::At(t)) => {
            let Ok(y) = u16::try_from(t.date.y) else {
                return false;
            };
            out.extend_from_slice(&y.to_le_bytes());
            out.extend_from_slice(&[t.date.m, t.date.d, t.h, t.mi, t.s]);
            if t.us != 0 {
                out.extend_from_slice(&t.us.to_le_bytes());
            }
        }
    }
    true
}

/// Encodes a time of day; false when not representable on the wire.
pub(crate) fn encode_time(wire: Wire, t: Hms, out: &mut Vec<u8>) -> bool {
    match wire {
        Wire::PgText | Wire::MySqlText => {
            let _ = write!(out, "{:02}:{:02}:{:02}", t.h, t.mi, t.s);
            write_frac(t.us, out);
        }
        Wire::PgBinary => {
            let us = (i64::from(t.h) * 3600 + i64::from(t.mi) * 60 + i64::from(t.s)) * 1_000_000
                + i64::from(t.us);
            out.extend_from_slice(&us.to_be_bytes());
        }
        Wire::MySqlBinary => {
            out.push(0);
            out.extend_from_slice(&(t.h / 24).to_le_bytes());
            out.extend_from_slice(&[(t.h % 24) as u8, t.mi, t.s]);
            if t.us != 0 {
                out.extend_from_slice(&t.us.to_le_bytes());
            }
        }
    }
    true
}

/// Truncates a date to January 1st of its year (MySQL's zero date stays zero).
pub(crate) fn year_of(d: Ymd) -> Ymd {
    if d == (Ymd { y: 0, m: 0, d: 0 }) {
        d
    } else {
        Ymd { y: d.y, m: 1, d: 1 }
    }
}

/// Truncates a timestamp to its day (or to its year): midnight, same offset.
/// Binary values are truncated in UTC (timestamptz) or local time (timestamp), text
/// values in the offset they carry.
pub(crate) fn truncate_ts(t: TsV, year: bool) -> TsV {
    match t {
        TsV::At(mut t) => {
            if year {
                t.date = year_of(t.date);
            }
            t.h = 0;
            t.mi = 0;
            t.s = 0;
            t.us = 0;
            TsV::At(t)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_DAYS);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        for z in [-800_000i64, -1, 0, 59, 60, 10_957, 2_932_896] {
            let d = civil_from_days(z).unwrap();
            assert_eq!(days_from_civil(d.y, d.m, d.d), z);
        }
    }

    #[test]
    fn parse_and_format() {
        let t = parse_ts_text(b"2024-08-17 13:45:10.25+05:30", false, false).unwrap();
        let mut out = Vec::new();
        assert!(encode_ts(TypeKind::TimestampTz, Wire::PgText, t, &mut out));
        assert_eq!(out, b"2024-08-17 13:45:10.25+05:30");
        out.clear();
        let t = parse_ts_text(b"0044-03-15 12:00:00+00 BC", false, false).unwrap();
        assert!(encode_ts(TypeKind::TimestampTz, Wire::PgText, t, &mut out));
        assert_eq!(out, b"0044-03-15 12:00:00+00 BC");
        assert_eq!(parse_date_text(b"2023-02-29", false), None);
        assert_eq!(
            parse_date_text(b"0000-00-00", true),
            Some(DateV::At(Ymd { y: 0, m: 0, d: 0 }))
        );
        assert_eq!(parse_time_text(b"838:59:59", true).map(|t| t.h), Some(838));
        assert_eq!(parse_time_text(b"25:00:00", false), None);
    }

    #[test]
    fn binary_timestamps() {
        let t = decode_ts(Wire::PgBinary, &0i64.to_be_bytes()).unwrap();
        let mut out = Vec::new();
        assert!(encode_ts(TypeKind::Timestamp, Wire::PgText, t, &mut out));
        assert_eq!(out, b"2000-01-01 00:00:00");
        let t = decode_ts(Wire::MySqlBinary, &[0xe8, 0x07, 8, 17, 1, 2, 3, 1, 0, 0, 0]).unwrap();
        out.clear();
        assert!(encode_ts(TypeKind::Timestamp, Wire::MySqlText, t, &mut out));
        assert_eq!(out, b"2024-08-17 01:02:03.000001");
    }
}

//! Parsing the text forms of dates, timestamps and times (ISO style, PostgreSQL ` BC`
//! and infinities, MySQL zero dates and long durations).

use crate::datetime::{DateV, Hms, Ts, TsV, Ymd};

/// The number of days in a month of a (proleptic Gregorian) year.
pub(crate) fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// A small cursor over ASCII text.
struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut n: u32 = 0;
        while self.i - start < max {
            match self.s.get(self.i) {
                Some(b) if b.is_ascii_digit() => {
                    n = n * 10 + u32::from(b - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(n)
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn rest(&self) -> &[u8] {
        self.s.get(self.i..).unwrap_or_default()
    }
}

/// Parses `YYYY-MM-DD`; `mysql` allows zero months and days, PostgreSQL validates fully.
fn parse_ymd(c: &mut Cur<'_>, mysql: bool) -> Option<Ymd> {
    let y = c.digits(4, if mysql { 4 } else { 7 })?;
    let ok = c.eat(b'-');
    let m = c.digits(2, 2)?;
    let ok = ok && c.eat(b'-');
    let d = c.digits(2, 2)?;
    let (y, m, d) = (i32::try_from(y).ok()?, m as u8, d as u8);
    let valid = if mysql {
        m <= 12 && d <= 31
    } else {
        (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
    };
    (ok && valid).then_some(Ymd { y, m, d })
}

fn parse_bc(c: &mut Cur<'_>, date: &mut Ymd) -> bool {
    if c.rest() == b" BC" {
        if date.y == 0 {
            return false;
        }
        date.y = 1 - date.y;
        c.i += 3;
    }
    true
}

/// Parses the text form of a date (`YYYY-MM-DD`, PostgreSQL ` BC` and infinities).
pub(crate) fn parse_date_text(v: &[u8], mysql: bool) -> Option<DateV> {
    if !mysql {
        if v == b"infinity" {
            return Some(DateV::PosInf);
        }
        if v == b"-infinity" {
            return Some(DateV::NegInf);
        }
    }
    let mut c = Cur { s: v, i: 0 };
    let mut date = parse_ymd(&mut c, mysql)?;
    if !mysql && !parse_bc(&mut c, &mut date) {
        return None;
    }
    c.rest().is_empty().then_some(DateV::At(date))
}

fn parse_hms(c: &mut Cur<'_>, max_hours: u32) -> Option<(u32, u8, u8, u32)> {
    let h = c.digits(2, 3)?;
    let ok = c.eat(b':');
    let mi = c.digits(2, 2)?;
    let ok = ok && c.eat(b':');
    let s = c.digits(2, 2)?;
    let mut us = 0;
    if c.eat(b'.') {
        let start = c.i;
        let f = c.digits(1, 6)?;
        us = f * 10u32.pow((6 - (c.i - start)) as u32);
    }
    (ok && h <= max_hours && mi < 60 && s < 61).then_some((h, mi as u8, s as u8, us))
}

fn parse_offset(c: &mut Cur<'_>) -> Option<Option<i32>> {
    let sign = match c.s.get(c.i) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(b'Z') => {
            c.i += 1;
            return Some(Some(0));
        }
        _ => return Some(None),
    };
    c.i += 1;
    let h = c.digits(2, 2)?;
    let mut secs = h * 3600;
    if c.eat(b':') {
        secs += c.digits(2, 2)? * 60;
        if c.eat(b':') {
            secs += c.digits(2, 2)?;
        }
    }
    (h < 16).then_some(Some(sign * secs as i32))
}

/// Parses the text form of a timestamp: `YYYY-MM-DD[( |T)HH:MM:SS[.ffffff]][offset][ BC]`.
/// `date_only` (constants) lets the time part be omitted.
pub(crate) fn parse_ts_text(v: &[u8], mysql: bool, date_only: bool) -> Option<TsV> {
    if !mysql {
        if v == b"infinity" {
            return Some(TsV::PosInf);
        }
        if v == b"-infinity" {
            return Some(TsV::NegInf);
        }
    }
    let mut c = Cur { s: v, i: 0 };
    let mut date = parse_ymd(&mut c, mysql)?;
    let mut ts = Ts {
        date,
        h: 0,
        mi: 0,
        s: 0,
        us: 0,
        offset: None,
    };
    if c.eat(b' ') || c.eat(b'T') {
        let (h, mi, s, us) = parse_hms(&mut c, 23)?;
        ts = Ts {
            date,
            h: h as u8,
            mi,
            s,
            us,
            offset: None,
        };
        if !mysql {
            ts.offset = parse_offset(&mut c)?;
        }
    } else if !date_only {
        return None;
    }
    if !mysql && !parse_bc(&mut c, &mut date) {
        return None;
    }
    ts.date = date;
    c.rest().is_empty().then_some(TsV::At(ts))
}

/// Parses a time of day `HH:MM:SS[.ffffff]` (hours up to 838 for MySQL).
pub(crate) fn parse_time_text(v: &[u8], mysql: bool) -> Option<Hms> {
    let mut c = Cur { s: v, i: 0 };
    let (h, mi, s, us) = parse_hms(&mut c, if mysql { 838 } else { 24 })?;
    let over = !mysql && h == 24 && (mi, s, us) != (0, 0, 0);
    (c.rest().is_empty() && !over).then_some(Hms { h, mi, s, us })
}

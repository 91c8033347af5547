//! [`MaskSpec`] (the configuration of one mask) and [`MaskFunction`] (compiled, applied
//! to values).

use std::fmt;

use crate::constant::Constant;
use crate::fit::{self, Shorten};
use crate::generalize::{self, Generalize};
use crate::hash::{self, HmacSha256};
use crate::numeric::Step;
use crate::redact;
use crate::text;
use crate::types::{ColumnType, MaskOutcome, TypeKind};

/// The configuration of one mask, mirroring the TOML `[[masks]]` keys except `columns`
/// and `except_groups`.
///
/// `key` is the secret itself, resolved by the caller from `key_env`.
///
/// ```
/// use masking::{MaskFunction, MaskSpec};
/// let spec = MaskSpec { function: "partial".into(), keep_last: Some(4), ..MaskSpec::default() };
/// let f = MaskFunction::compile(&spec).unwrap();
/// assert_eq!(f.name(), "partial");
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct MaskSpec {
    /// The function: `null`, `redact`, `partial`, `email`, `hash`, `generalize`, `digits`,
    /// `regex_replace` or `constant`.
    pub function: String,
    /// `partial`: characters kept at the start (default 0).
    pub keep_first: Option<u32>,
    /// `partial`: characters kept at the end (default 0).
    pub keep_last: Option<u32>,
    /// `partial`: the one character written for each masked one (default `*`).
    pub fill: Option<String>,
    /// `generalize`: numbers are rounded down to a multiple of this (default 10).
    pub step: Option<f64>,
    /// `regex_replace`: the pattern (Rust `regex` syntax).
    pub pattern: Option<String>,
    /// `regex_replace`: the replacement (`$1`, `${name}` refer to groups).
    pub replacement: Option<String>,
    /// `constant`: the value.
    pub value: Option<String>,
    /// `hash` (required) and `digits` (optional): the HMAC key, resolved from `key_env`.
    pub key: Option<Vec<u8>>,
    /// `generalize`: timestamps to `"day"` (default) or `"year"`. Dates always go to
    /// their year.
    pub precision: Option<String>,
}

impl fmt::Debug for MaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskSpec")
            .field("function", &self.function)
            .field("keep_first", &self.keep_first)
            .field("keep_last", &self.keep_last)
            .field("fill", &self.fill)
            .field("step", &self.step)
            .field("pattern", &self.pattern)
            .field("replacement", &self.replacement)
            .field("value", &self.value)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("precision", &self.precision)
            .finish()
    }
}

/// The compiled body of a function.
#[derive(Clone)]
enum Func {
    Null,
    Redact,
    Partial {
        keep_first: u32,
        keep_last: u32,
        fill: Box<[u8]>,
    },
    Email,
    Hash(Box<HmacSha256>),
    Generalize(Generalize),
    Digits(Option<Box<HmacSha256>>),
    RegexReplace {
        re: regex::bytes::Regex,
        replacement: Box<[u8]>,
    },
    Constant(Box<Constant>),
}

/// A configured mask function, compiled once at config load and then applied to values.
///
/// Every function produces values valid for the column's type and wire encoding, or SQL
/// NULL; none panics on any input bytes. Text-shaped functions (`partial`, `email`,
/// `regex_replace`) fall back to `redact` on non-text columns; `digits` works on text
/// and integers and falls back to `redact` elsewhere.
///
/// ```
/// use masking::{ColumnType, MaskFunction, MaskOutcome, MaskSpec};
/// let f = MaskFunction::compile(&MaskSpec { function: "email".into(), ..Default::default() }).unwrap();
/// let mut out = Vec::new();
/// let text = ColumnType::pg(25, false);
/// assert_eq!(f.apply(text, b"alice@example.com", &mut out), MaskOutcome::Value);
/// assert_eq!(out, b"a***@example.com");
/// ```
#[derive(Clone)]
pub struct MaskFunction {
    name: String,
    func: Func,
}

impl fmt::Debug for MaskFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("MaskFunction")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The functions [`MaskFunction::compile`] knows.
pub const FUNCTIONS: [&str; 9] = [
    "null",
    "redact",
    "partial",
    "email",
    "hash",
    "generalize",
    "digits",
    "regex_replace",
    "constant",
];

fn check_keys(spec: &MaskSpec, allowed: &[&str]) -> Result<(), String> {
    let present = [
        ("keep_first", spec.keep_first.is_some()),
        ("keep_last", spec.keep_last.is_some()),
        ("fill", spec.fill.is_some()),
        ("step", spec.step.is_some()),
        ("pattern", spec.pattern.is_some()),
        ("replacement", spec.replacement.is_some()),
        ("value", spec.value.is_some()),
        ("key_env", spec.key.is_some()),
        ("precision", spec.precision.is_some()),
    ];
    for (key, set) in present {
        if set && !allowed.contains(&key) {
            return Err(format!(
                "mask function `{}` does not take `{key}`",
                spec.function
            ));
        }
    }
    Ok(())
}

fn keyed(spec: &MaskSpec, required: bool) -> Result<Option<Box<HmacSha256>>, String> {
    match &spec.key {
        Some(k) if k.is_empty() => Err(format!(
            "mask function `{}`: the key (`key_env`) is empty",
            spec.function
        )),
        Some(k) => Ok(Some(Box::new(hash::new_mac(k)?))),
        None if required => Err(format!(
            "mask function `{}` needs a key: set `key_env`",
            spec.function
        )),
        None => Ok(None),
    }
}

impl MaskFunction {
    /// Validates and compiles a mask. The error names the offending key: an unknown
    /// function, an option the function does not take, a bad regex, `hash` without a key,
    /// a `fill` that is not exactly one character, a `step` that is not positive and
    /// finite, an unknown `precision`, a missing `pattern`/`replacement`/`value`.
    ///
    /// ```
    /// use masking::{MaskFunction, MaskSpec};
    /// let err = MaskFunction::compile(&MaskSpec { function: "hash".into(), keep_first: Some(1), ..Default::default() });
    /// assert_eq!(err.unwrap_err(), "mask function `hash` does not take `keep_first`");
    /// ```
    pub fn compile(spec: &MaskSpec) -> Result<MaskFunction, String> {
        let func = match spec.function.as_str() {
            "null" => {
                check_keys(spec, &[])?;
                Func::Null
            }
            "redact" => {
                check_keys(spec, &[])?;
                Func::Redact
            }
            "partial" => {
                check_keys(spec, &["keep_first", "keep_last", "fill"])?;
                let fill = spec.fill.as_deref().unwrap_or("*");
                if fill.chars().count() != 1 {
                    return Err(format!(
                        "`fill` must be exactly one character, got {fill:?}"
                    ));
                }
                Func::Partial {
                    keep_first: spec.keep_first.unwrap_or(0),
                    keep_last: spec.keep_last.unwrap_or(0),
                    fill: fill.as_bytes().into(),
                }
            }
            "email" => {
                check_keys(spec, &[])?;
                Func::Email
            }
            "hash" => {
                check_keys(spec, &["key_env"])?;
                match keyed(spec, true)? {
                    Some(mac) => Func::Hash(mac),
                    None => return Err("mask function `hash` needs a key: set `key_env`".into()),
                }
            }
            "generalize" => {
                check_keys(spec, &["step", "precision"])?;
                let step = Step::from_f64(spec.step.unwrap_or(10.0))?;
                // Timestamps keep what dates keep (the year) unless told to keep the day.
                let year = match spec.precision.as_deref() {
                    Some("day") => false,
                    None | Some("year") => true,
                    Some(p) => {
                        return Err(format!(
                            "`precision` must be \"day\" or \"year\", got {p:?}"
                        ))
                    }
                };
                Func::Generalize(Generalize { step, year })
            }
            "digits" => {
                check_keys(spec, &["key_env"])?;
                Func::Digits(keyed(spec, false)?)
            }
            "regex_replace" => {
                check_keys(spec, &["pattern", "replacement"])?;
                let pattern = spec
                    .pattern
                    .as_deref()
                    .ok_or("mask function `regex_replace` needs `pattern`")?;
                let replacement = spec
                    .replacement
                    .as_deref()
                    .ok_or("mask function `regex_replace` needs `replacement`")?;
                let re =
                    regex::bytes::Regex::new(pattern).map_err(|e| format!("bad `pattern`: {e}"))?;
                Func::RegexReplace {
                    re,
                    replacement: replacement.as_bytes().into(),
                }
            }
            "constant" => {
                check_keys(spec, &["value"])?;
                let value = spec
                    .value
                    .as_deref()
                    .ok_or("mask function `constant` needs `value`")?;
                Func::Constant(Box::new(Constant::new(value)))
            }
            other => {
                return Err(format!(
                    "unknown mask `function` {other:?} (expected one of: {})",
                    FUNCTIONS.join(", ")
                ))
            }
        };
        Ok(MaskFunction {
            name: spec.function.clone(),
            func,
        })
    }

    /// Masks one non-NULL value of type `ty` into `out` (cleared first).
    ///
    /// Returns [`MaskOutcome::Null`] when the function's result is SQL NULL: the `null`
    /// function, a type the function cannot produce (see the crate docs), or an input that
    /// does not parse as its declared type. Never panics. NULL inputs are never passed:
    /// NULL stays NULL.
    ///
    /// ```
    /// use masking::{ColumnType, MaskFunction, MaskOutcome, MaskSpec};
    /// let f = MaskFunction::compile(&MaskSpec { function: "redact".into(), ..Default::default() }).unwrap();
    /// let mut out = Vec::new();
    /// // int4 in PostgreSQL binary format: four big-endian zero bytes.
    /// assert_eq!(f.apply(ColumnType::pg(23, true), &[0, 0, 0, 42], &mut out), MaskOutcome::Value);
    /// assert_eq!(out, [0, 0, 0, 0]);
    /// ```
    pub fn apply(&self, ty: ColumnType, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        out.clear();
        if self.apply_append(ty, value, out) {
            MaskOutcome::Value
        } else {
            MaskOutcome::Null
        }
    }

    /// Like [`apply`](Self::apply), appending to `out`; false (and `out` as it was) for
    /// SQL NULL.
    pub(crate) fn apply_append(&self, ty: ColumnType, value: &[u8], out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let is_text = ty.kind == TypeKind::Text;
        let ok = match &self.func {
            Func::Null => false,
            Func::Redact => redact::redact(ty, value, out),
            Func::Partial {
                keep_first,
                keep_last,
                fill,
            } if is_text => {
                text::partial(value, *keep_first, *keep_last, fill, out);
                true
            }
            Func::Email if is_text => {
                text::email(value, out);
                true
            }
            Func::RegexReplace { re, replacement } if is_text => {
                text::regex_replace(re, replacement, value, out);
                true
            }
            Func::Digits(mac) if is_text => {
                text::digits_text(value, mac.as_deref(), out);
                true
            }
            Func::Digits(mac) => match ty.kind {
                TypeKind::Int { bytes } => {
                    text::digits_int(bytes, ty.wire, value, mac.as_deref(), out)
                }
                _ => redact::redact(ty, value, out),
            },
            Func::Partial { .. } | Func::Email | Func::RegexReplace { .. } => {
                redact::redact(ty, value, out)
            }
            Func::Hash(mac) => hash::hash(mac, ty, value, out),
            Func::Generalize(g) => generalize::generalize(g, ty, value, out),
            Func::Constant(c) => c.apply(ty, value, out),
        };
        // Fit the column's declared length or precision (see `fit`).
        let ok = ok && fit::fit(ty, self.shorten(), value, out, start);
        if !ok {
            out.truncate(start);
        }
        ok
    }

    /// How this function's output is shortened to fit a column.
    fn shorten(&self) -> Shorten {
        match self.func {
            Func::Hash(_) => Shorten::Hash,
            Func::Email => Shorten::Email,
            _ => Shorten::Cut,
        }
    }

    /// The function's name as configured (`"partial"`, ...), for logs.
    pub fn name(&self) -> &str {
        &self.name
    }
}

//! sluice-masking: mask functions, type-aware value encoding and content detectors.
//!
//! This crate is the pure heart of sluice's column masking: it turns one value of a
//! result row into its masked form, **in the wire encoding the client expects**, so that
//! PostgreSQL and MySQL drivers decode masked rows exactly like real ones. It does no I/O;
//! the proxy hands it field bytes and writes back what it returns.
//!
//! ```
//! use masking::{ColumnType, MaskFunction, MaskOutcome, MaskSpec};
//!
//! // Compile once, at config load ([[masks]] function = "partial", keep_last = 4).
//! let spec = MaskSpec { function: "partial".into(), keep_last: Some(4), ..MaskSpec::default() };
//! let ssn = MaskFunction::compile(&spec)?;
//!
//! // Apply per value, reusing one output buffer.
//! let mut out = Vec::new();
//! let varchar = ColumnType::pg(1043, false);
//! assert_eq!(ssn.apply(varchar, b"123-45-6789", &mut out), MaskOutcome::Value);
//! assert_eq!(out, b"*******6789");
//! # Ok::<(), String>(())
//! ```
//!
//! # Types and wires
//!
//! A [`ColumnType`] is a [`TypeKind`] (text, integer of some width, date, uuid, ...) plus a
//! [`Wire`]: PostgreSQL text or binary format, MySQL text or binary protocol rows. Build
//! it with [`ColumnType::pg`] from a type OID and format code, or [`ColumnType::mysql`]
//! from a `MYSQL_TYPE_*` byte, the charset and the row kind.
//!
//! Values are the field's content only: PostgreSQL `DataRow` field bytes, MySQL text-row
//! field content, MySQL binary-row value content without its length prefix. Outputs are
//! the same shape; the adapter re-adds length prefixes. NULL inputs are never passed and
//! NULL stays NULL; a function may *produce* NULL ([`MaskOutcome::Null`]).
//!
//! # Functions
//!
//! | function | text | other types |
//! |---|---|---|
//! | `null` | NULL | NULL |
//! | `redact` | `[REDACTED]` | a fixed valid value: `0`, `false`, 1970-01-01, the epoch, `00:00:00`, the nil UUID, JSON `null`, empty bytes; NULL for [`TypeKind::Other`] |
//! | `partial` | all but the first `keep_first` / last `keep_last` characters become `fill` (default `*`); a value no longer than what is kept is masked whole | as `redact` |
//! | `email` | `alice@example.com` → `a***@example.com`; a one-character local part is hidden too; not an address: `***` (its length is not kept) | as `redact` |
//! | `hash` | 32 lowercase hex characters of HMAC-SHA-256(key, value) | integers: non-negative, same width; UUIDs: v4-shaped; bytes: the 32-byte digest; numeric: an integer with as many integer digits; others NULL |
//! | `generalize` | NULL | dates → January 1st; timestamps → January 1st (`precision = "year"`, the default) or midnight (`"day"`); integers, floats, numerics → rounded down to a multiple of `step` (default 10; one no coarser than the column's own granularity is made ten times that granularity), clamped to the column's range |
//! | `digits` | every ASCII digit replaced (HMAC-derived with a key, `0` without), separators and length kept | integers: same sign and digit count (first digit nonzero), within range; others as `redact` |
//! | `regex_replace` | every match of `pattern` replaced by `replacement` (`$1`) | as `redact` |
//! | `constant` | `value` | `value` parsed as the column's type (integer, float, numeric, bool, date, timestamp, time, uuid, JSON, bytes); NULL where it does not parse |
//!
//! `hash` is deterministic: the same key and value always give the same output, so joins
//! and `GROUP BY` still line up. It hashes a canonical form, so text and binary wires
//! agree: integers hash their decimal text, UUIDs their lowercase hyphenated text,
//! numerics their text, bytes their raw bytes. For text,
//! `left(encode(hmac(value, key, 'sha256'), 'hex'), 32)` in PostgreSQL (pgcrypto) gives the
//! same string.
//!
//! A [`ColumnType`] may carry the column's declared [`Size`] (`varchar(n)`, `char(n)`,
//! `numeric(p, s)`, MySQL lengths): an output that would not fit takes a shorter form of
//! the same function: a hash cut to n hex digits, an e-mail mask with fewer stars, other
//! text cut to n characters, a number with its last integer digits (`hash`) or clamped
//! into range (the others).
//!
//! Inputs that do not parse as their declared type give NULL, never a panic. Characters
//! are UTF-8 characters; a byte that is not valid UTF-8 counts as one character, so
//! `partial` never splits a multibyte character.
//!
//! # Detectors
//!
//! A [`DetectorSet`] finds sensitive content inside text values: credit-card numbers
//! (Luhn-checked), e-mail addresses, US SSNs, IBANs (mod-97-checked), JWTs, bearer tokens,
//! user regex patterns and dictionary words. All regex kinds are alternatives of one
//! combined regex and the dictionary is one Aho-Corasick automaton, so a value is scanned
//! once per engine however many kinds are configured. [`DetectorSet::contains`] does not
//! allocate; [`DetectorSet::mask_hits`] rewrites only the hits and returns false when there
//! are none, so the caller forwards the original bytes.
//!
//! ```
//! use masking::{DetectorKind, DetectorSet, MaskFunction, MaskSpec};
//! let set = DetectorSet::new(&[DetectorKind::CreditCard, DetectorKind::Email], &[], &[])?;
//! let redact = MaskFunction::compile(&MaskSpec { function: "redact".into(), ..Default::default() })?;
//! let mut out = Vec::new();
//! assert!(set.mask_hits(b"paid with 4111-1111-1111-1111 (bob@example.org)", &redact, &mut out));
//! assert_eq!(out, b"paid with [REDACTED] ([REDACTED])");
//! # Ok::<(), String>(())
//! ```
//!
//! # Limits
//!
//! * MySQL column types do not say whether an integer is `UNSIGNED`. Text rows accept
//!   the unsigned range; binary rows are read as signed, so an unsigned value with the
//!   high bit set is seen as negative (it still masks to a valid value of the same width,
//!   but `hash` of such a value differs between the text and binary protocols).
//! * PostgreSQL `json` and `jsonb` share [`TypeKind::Json`]; binary `jsonb` is recognised
//!   by its version byte (1), which JSON text never starts with.
//! * Dates and timestamps in PostgreSQL text format are expected in the ISO `DateStyle`
//!   (what drivers set); other styles do not parse and give NULL.
//! * Dictionary words match ASCII-case-insensitively.
//!
//! # Performance
//!
//! Functions write into the caller's buffer; `null`, `redact`, `partial`, `email`, `hash`,
//! `digits`, `constant` and `generalize` on text, integers and dates do not allocate.
//! The benches (`cargo bench -p sluice-masking`) measure ns per field and detector MB/s.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod constant;
mod dateparse;
mod datetime;
mod detect;
mod encode;
mod fit;
mod function;
#[doc(hidden)]
pub mod fuzzing;
mod generalize;
mod hash;
mod json;
mod numeric;
mod redact;
mod text;
mod types;

pub use detect::{DetectorKind, DetectorSet, Hit, HitKind};
pub use function::{MaskFunction, MaskSpec, FUNCTIONS};
pub use types::{mysql_type_name, pg_type_name, ColumnType, MaskOutcome, Size, TypeKind, Wire};

//! Human durations as written in the config file: `"250ms"`, `"10s"`, `"5m"`, `"1h"`, `"7d"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::DurationError;

/// A duration parsed from a string with a unit suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `"<integer><unit>"` where unit is one of `ms`, `s`, `m`, `h`, `d`.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| DurationError::NoUnit(text.to_string()))?;
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| DurationError::NotWhole(text.to_string()))?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_string(),
                    unit: unit.to_string(),
                })
            }
        };
        n.checked_mul(millis_per_unit)
            .map(|ms| HumanDuration(Duration::from_millis(ms)))
            .ok_or_else(|| DurationError::TooLarge(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration string such as \"250ms\", \"10s\", \"5m\", \"1h\" or \"7d\"",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(
            HumanDuration::parse("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(
            HumanDuration::parse("10s").unwrap().0,
            Duration::from_secs(10)
        );
        assert_eq!(
            HumanDuration::parse("5m").unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(
            HumanDuration::parse("1h").unwrap().0,
            Duration::from_secs(3600)
        );
        assert_eq!(
            HumanDuration::parse("7d").unwrap().0,
            Duration::from_secs(7 * 86400)
        );
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert_eq!(
            HumanDuration::parse("10").unwrap_err().to_string(),
            "duration \"10\" has no unit (use ms, s, m, h or d)"
        );
        assert!(HumanDuration::parse("10w")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
        assert!(HumanDuration::parse("s").is_err());
    }
}

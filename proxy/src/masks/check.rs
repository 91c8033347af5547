//! `sluice check --live` for `[[masks]]`: every column pattern should name at least one column
//! that exists on some target, or a typo silently leaves the data it meant to mask in clear.

use super::ColumnPattern;
use crate::config::Config;

/// One message for each `[[masks]]` column pattern that matches none of `columns` (the
/// `(schema, table, column)` triples of every target). Matching is that of the masks
/// themselves (globs, case-insensitive; fewer parts leave the rest open).
pub fn unmatched_mask_columns(
    config: &Config,
    columns: &[(String, String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, mask) in config.masks.iter().enumerate() {
        let what = format!("[[masks]] #{}", i + 1);
        for text in &mask.columns {
            match ColumnPattern::parse(text) {
                Ok(pattern) => {
                    let found = columns
                        .iter()
                        .any(|(s, t, c)| pattern.matches(Some(s), Some(t), c));
                    if !found {
                        out.push(format!(
                            "{what}: column {text:?} matches no column of any target"
                        ));
                    }
                }
                Err(e) => out.push(format!("{what}: {e}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(masks: &str) -> Config {
        Config::parse(masks, Default::default()).unwrap()
    }

    fn triple(s: &str, t: &str, c: &str) -> (String, String, String) {
        (s.into(), t.into(), c.into())
    }

    #[test]
    fn names_each_pattern_that_matches_nothing() {
        let config = config(
            "[[masks]]\ncolumns = [\"public.customers.email\", \"*.*.SSN\"]\nfunction = \"redact\"\n\n\
             [[masks]]\ncolumns = [\"customers.emial\", \"shop.customers.email\"]\nfunction = \"redact\"\n",
        );
        let columns = [
            triple("public", "customers", "email"),
            triple("shop", "Customers", "ssn"),
        ];
        assert_eq!(
            unmatched_mask_columns(&config, &columns),
            vec![
                "[[masks]] #2: column \"customers.emial\" matches no column of any target",
                "[[masks]] #2: column \"shop.customers.email\" matches no column of any target",
            ]
        );
    }

    #[test]
    fn no_masks_no_messages() {
        assert!(unmatched_mask_columns(&config(""), &[]).is_empty());
    }
}

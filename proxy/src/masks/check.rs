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

/// The columns among `columns` (`(schema, table, column)` of one target) that some `[[masks]]`
/// entry masks for sessions of `groups`, the globs of an identity: a mask applies unless its
/// `except_groups` cover every one of them.
pub fn masked_for_groups(
    config: &Config,
    groups: &[String],
    columns: &[(String, String, String)],
) -> Vec<(String, String, String)> {
    let applying: Vec<Vec<ColumnPattern>> = config
        .masks
        .iter()
        .filter(|m| {
            let except: Vec<policy::Glob> = m
                .except_groups
                .iter()
                .filter_map(|g| policy::Glob::new(g).ok())
                .collect();
            !groups.iter().all(|g| except.iter().any(|e| e.matches(g)))
        })
        .map(|m| {
            m.columns
                .iter()
                .filter_map(|c| ColumnPattern::parse(c).ok())
                .collect()
        })
        .collect();
    columns
        .iter()
        .filter(|(s, t, c)| {
            applying
                .iter()
                .flatten()
                .any(|p| p.matches(Some(s), Some(t), c))
        })
        .cloned()
        .collect()
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
    fn masked_columns_are_those_of_masks_the_groups_are_not_excepted_from() {
        let config = config(
            "[[masks]]\ncolumns = [\"*.*.ssn\"]\nfunction = \"redact\"\nexcept_groups = [\"dba\"]\n\n\
             [[masks]]\ncolumns = [\"public.customers.email\"]\nfunction = \"email\"\n",
        );
        let columns = [
            triple("public", "customers", "ssn"),
            triple("public", "customers", "email"),
            triple("public", "customers", "id"),
        ];
        let masked = |groups: &[&str]| {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            masked_for_groups(&config, &groups, &columns)
                .into_iter()
                .map(|(_, _, c)| c)
                .collect::<Vec<_>>()
        };
        assert_eq!(masked(&["analysts"]), ["ssn", "email"]);
        assert_eq!(masked(&["dba"]), ["email"]);
        assert_eq!(
            masked(&["dba", "bi-*"]),
            ["ssn", "email"],
            "one masked group is enough"
        );
    }

    #[test]
    fn no_masks_no_messages() {
        assert!(unmatched_mask_columns(&config(""), &[]).is_empty());
    }
}

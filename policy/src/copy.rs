//! `COPY … TO STDOUT` as a query: what a COPY out to the client reads, as a `SELECT` the proxy
//! can describe (to learn the columns' origins and types), and the format its rows come in.

use sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};

use crate::Dialect;

/// How the rows of a COPY are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's text format: `delimiter`-separated, backslash escapes, `null` for NULL.
    Text {
        /// The field separator (default tab).
        delimiter: char,
        /// What NULL is written as (default `\N`).
        null: String,
    },
    /// CSV.
    Csv {
        /// The field separator (default `,`).
        delimiter: char,
        /// The quote character (default `"`).
        quote: char,
        /// The escape character inside quotes (default: the quote).
        escape: char,
        /// What NULL is written as (default: an unquoted empty string).
        null: String,
        /// Whether the first row is a header.
        header: bool,
        /// `FORCE_QUOTE`: the columns whose non-NULL values are always quoted.
        force_quote: ForceQuote,
    },
    /// The binary format.
    Binary,
}

/// Which columns of a CSV COPY have every non-NULL value quoted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ForceQuote {
    /// Only values that need it (the default).
    #[default]
    Needed,
    /// These columns, by name (as PostgreSQL folds them).
    Columns(Vec<String>),
    /// `FORCE_QUOTE *`.
    All,
}

impl ForceQuote {
    /// Whether the column named `name` is always quoted.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            ForceQuote::Needed => false,
            ForceQuote::Columns(names) => names.iter().any(|n| n == name),
            ForceQuote::All => true,
        }
    }

    fn from_idents(idents: &[sqlparser::ast::Ident]) -> ForceQuote {
        if idents.len() == 1 && idents[0].value == crate::analysis::FORCE_QUOTE_ALL {
            return ForceQuote::All;
        }
        ForceQuote::Columns(
            idents
                .iter()
                .map(crate::analysis::normalize_ident)
                .collect(),
        )
    }
}

/// A `COPY … TO STDOUT`: the query it runs and its format.
///
/// ```
/// use policy::{copy_out, CopyFormat, Dialect};
/// let c = copy_out(Dialect::Postgres, "COPY public.t (a, b) TO STDOUT WITH (FORMAT csv)");
/// let c = c[0].as_ref().unwrap();
/// assert_eq!(c.select, "SELECT a, b FROM public.t");
/// assert!(matches!(c.format, CopyFormat::Csv { delimiter: ',', .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOut {
    /// A `SELECT` giving the same columns, in order.
    pub select: String,
    /// The format of the rows.
    pub format: CopyFormat,
    /// The `ENCODING` option, as written: the rows are in it instead of the session's
    /// `client_encoding`.
    pub encoding: Option<String>,
}

/// For each statement of `sql`: `Some` when it is a COPY to the client (STDOUT), `None`
/// otherwise; empty when the text does not parse.
pub fn copy_out(dialect: Dialect, sql: &str) -> Vec<Option<CopyOut>> {
    let Ok(statements) = crate::analysis::parse_statements(dialect, sql) else {
        return Vec::new();
    };
    statements.iter().map(one).collect()
}

fn one(statement: &Statement) -> Option<CopyOut> {
    let Statement::Copy {
        source,
        to: true,
        target: CopyTarget::Stdout,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return None;
    };
    let select = match source {
        CopySource::Query(q) => q.to_string(),
        CopySource::Table {
            table_name,
            columns,
        } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
        CopySource::Table {
            table_name,
            columns,
        } => format!(
            "SELECT {} FROM {table_name}",
            columns
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let (mut format, mut delimiter, mut null, mut header) = ("text".to_string(), None, None, false);
    let (mut quote, mut escape, mut encoding) = (None, None, None);
    let mut force_quote = ForceQuote::Needed;
    for o in options {
        match o {
            CopyOption::Format(f) => format = f.value.to_lowercase(),
            CopyOption::Delimiter(c) => delimiter = Some(*c),
            CopyOption::Null(n) => null = Some(n.clone()),
            CopyOption::Header(h) => header = *h,
            CopyOption::Quote(c) => quote = Some(*c),
            CopyOption::Escape(c) => escape = Some(*c),
            CopyOption::Encoding(e) => encoding = Some(e.clone()),
            CopyOption::ForceQuote(idents) => force_quote = ForceQuote::from_idents(idents),
            _ => {}
        }
    }
    for o in legacy_options {
        match o {
            CopyLegacyOption::Binary => format = "binary".into(),
            CopyLegacyOption::Csv(csv) => {
                format = "csv".into();
                for c in csv {
                    match c {
                        CopyLegacyCsvOption::Header => header = true,
                        CopyLegacyCsvOption::Quote(q) => quote = Some(*q),
                        CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                        CopyLegacyCsvOption::ForceQuote(idents) => {
                            force_quote = ForceQuote::from_idents(idents)
                        }
                        _ => {}
                    }
                }
            }
            CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
            CopyLegacyOption::Null(n) => null = Some(n.clone()),
            CopyLegacyOption::Header => header = true,
            _ => {}
        }
    }
    let format = match format.as_str() {
        "binary" => CopyFormat::Binary,
        "csv" => {
            let quote = quote.unwrap_or('"');
            CopyFormat::Csv {
                delimiter: delimiter.unwrap_or(','),
                quote,
                escape: escape.unwrap_or(quote),
                null: null.unwrap_or_default(),
                header,
                force_quote,
            }
        }
        _ => CopyFormat::Text {
            delimiter: delimiter.unwrap_or('\t'),
            null: null.unwrap_or_else(|| "\\N".into()),
        },
    };
    Some(CopyOut {
        select,
        format,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_quote_lists_and_star_are_read() {
        let force = |sql: &str| match copy_out(Dialect::Postgres, sql).first() {
            Some(Some(CopyOut {
                format: CopyFormat::Csv { force_quote, .. },
                ..
            })) => Some(force_quote.clone()),
            _ => None,
        };
        for sql in [
            "COPY t TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE *)",
            "COPY (SELECT a FROM t) TO STDOUT WITH (FORMAT csv, force_quote *)",
            "COPY t TO STDOUT CSV FORCE QUOTE *",
        ] {
            assert_eq!(force(sql), Some(ForceQuote::All), "{sql}");
        }
        assert_eq!(
            force("COPY t (a, \"B\") TO STDOUT (FORMAT csv, FORCE_QUOTE (A, \"B\"))"),
            Some(ForceQuote::Columns(vec!["a".into(), "B".into()]))
        );
        assert_eq!(
            force("COPY t TO STDOUT (FORMAT csv)"),
            Some(ForceQuote::Needed)
        );
        // `*` anywhere else is what it was.
        assert_eq!(
            copy_out(
                Dialect::Postgres,
                "COPY (SELECT * FROM t) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"
            )[0]
            .as_ref()
            .map(|c| c.select.as_str()),
            Some("SELECT * FROM t")
        );
    }

    #[test]
    fn copies_to_stdout_become_selects_with_their_format() {
        let c = copy_out(
            Dialect::Postgres,
            "SELECT 1; COPY (SELECT ssn FROM c WHERE id > 1) TO STDOUT WITH CSV HEADER; COPY t TO '/tmp/x'",
        );
        assert_eq!(c.len(), 3);
        assert!(c[0].is_none() && c[2].is_none());
        let q = c[1].as_ref().unwrap();
        assert_eq!(q.select, "SELECT ssn FROM c WHERE id > 1");
        assert_eq!(
            q.format,
            CopyFormat::Csv {
                delimiter: ',',
                quote: '"',
                escape: '"',
                null: String::new(),
                header: true,
                force_quote: ForceQuote::Needed,
            }
        );
        let t = &copy_out(Dialect::Postgres, "COPY t TO STDOUT")[0];
        assert_eq!(
            t.as_ref().map(|c| (c.select.as_str(), &c.format)),
            Some((
                "SELECT * FROM t",
                &CopyFormat::Text {
                    delimiter: '\t',
                    null: "\\N".into()
                }
            ))
        );
        assert_eq!(t.as_ref().and_then(|c| c.encoding.as_deref()), None);
        let e = &copy_out(Dialect::Postgres, "COPY t TO STDOUT (ENCODING 'SJIS')")[0];
        assert_eq!(e.as_ref().and_then(|c| c.encoding.as_deref()), Some("SJIS"));
        let b = &copy_out(Dialect::Postgres, "COPY t TO STDOUT (FORMAT binary)")[0];
        assert_eq!(b.as_ref().map(|c| &c.format), Some(&CopyFormat::Binary));
    }
}

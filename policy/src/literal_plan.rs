//! Literal masking once per [`Shape`]: which literals and parameters of a statement the audit
//! log must not see depends on where they stand (compared with, assigned to or inserted into a
//! sensitive column), never on their values. So the masking is planned once, by a full parse,
//! and every later text of the same shape is masked by substituting its literals by position,
//! without parsing.

use std::collections::HashSet;

use sqlparser::ast::Statement;

use crate::analysis::parse_statements;
use crate::literals::{question_mark_ordinals, Masker, TableScope};
use crate::{Dialect, LiteralMode, MaskedStatement, SensitiveColumns, Shape};

/// How to mask the literals of every statement of one [`Shape`] for the audit log.
///
/// ```
/// use policy::{mask_literals, shape, Dialect, LiteralMode, LiteralPlan, SensitiveColumns};
/// let s = SensitiveColumns::new(["customers.ssn"]).unwrap();
/// let first = "UPDATE customers SET ssn = '123-45-6789', name = 'Ann' WHERE id = 7";
/// let plan = LiteralPlan::new(Dialect::Postgres, first, &shape(Dialect::Postgres, first).unwrap(), &s).unwrap();
/// let next = "UPDATE customers SET ssn = '987-65-4321', name = 'Bob' WHERE id = 8";
/// let m = plan.render(next, &shape(Dialect::Postgres, next).unwrap(), LiteralMode::Mask);
/// assert_eq!(m.text, "UPDATE customers SET ssn = '***', name = 'Bob' WHERE id = 8");
/// assert_eq!(m, mask_literals(Dialect::Postgres, next, &s, LiteralMode::Mask));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralPlan {
    /// One entry per literal of the shape: masked in `Mask` mode?
    masked: Vec<bool>,
    /// 1-based positions of bind parameters bound to sensitive columns, ascending.
    masked_params: Vec<usize>,
}

impl LiteralPlan {
    /// Plans the masking of `sql` (whose shape is `shape`) by parsing it. `None` when the plan
    /// would not hold for every text of the shape: the text does not parse, holds something
    /// other than SELECT, INSERT, UPDATE and DELETE, or masks a value that is not one of the
    /// shape's literals (a `true`, say). Use [`crate::mask_literals`] then.
    pub fn new(
        dialect: Dialect,
        sql: &str,
        shape: &Shape,
        sensitive: &SensitiveColumns,
    ) -> Option<LiteralPlan> {
        let mut statements = parse_statements(dialect, sql).ok()?;
        let plain = statements.iter().all(|s| {
            matches!(
                s,
                Statement::Query(_)
                    | Statement::Insert(_)
                    | Statement::Update(_)
                    | Statement::Delete(_)
            )
        });
        if !plain {
            return None;
        }
        let question_marks = question_mark_ordinals(&statements);
        let mut masked_params = HashSet::new();
        let mut masked_at = Vec::new();
        for statement in &mut statements {
            let mut masker = Masker {
                sensitive,
                scope: TableScope::of(statement),
                question_marks: &question_marks,
                masked_params: &mut masked_params,
                masked_at: Vec::new(),
                rows_from_literals: false,
                mask_everything: false,
            };
            masker.mask_statement(statement);
            masked_at.append(&mut masker.masked_at);
        }
        let starts = line_starts(sql);
        let mut masked = vec![false; shape.literals().len()];
        for (line, column) in masked_at {
            let offset = byte_offset(sql, &starts, line, column)?;
            let i = shape.literals().iter().position(|l| l.start == offset)?;
            masked[i] = true;
        }
        let mut masked_params: Vec<usize> = masked_params.into_iter().collect();
        masked_params.sort_unstable();
        Some(LiteralPlan {
            masked,
            masked_params,
        })
    }

    /// The plan when no column is sensitive: nothing is masked in `Mask` mode, every literal
    /// still goes in `Redact` mode. Needs no parse.
    ///
    /// ```
    /// use policy::{shape, Dialect, LiteralMode, LiteralPlan};
    /// let sh = shape(Dialect::MySql, "SELECT 'a', 1").unwrap();
    /// let plan = LiteralPlan::nothing_sensitive(&sh);
    /// assert_eq!(plan.render("SELECT 'a', 1", &sh, LiteralMode::Redact).text, "SELECT ?, ?");
    /// ```
    pub fn nothing_sensitive(shape: &Shape) -> LiteralPlan {
        LiteralPlan {
            masked: vec![false; shape.literals().len()],
            masked_params: Vec::new(),
        }
    }

    /// `sql`, of the planned shape, masked per `mode`: in `Mask` mode the planned literals
    /// become `'***'`, in `Redact` mode every literal becomes `?`; the rest is kept as written.
    pub fn render(&self, sql: &str, shape: &Shape, mode: LiteralMode) -> MaskedStatement {
        if mode == LiteralMode::Keep {
            return MaskedStatement {
                text: sql.to_string(),
                masked_params: Vec::new(),
                all_params_masked: false,
            };
        }
        let mut text = String::with_capacity(sql.len());
        let mut copied = 0;
        for (range, masked) in shape.literals().iter().zip(&self.masked) {
            let replacement = match mode {
                LiteralMode::Redact => "?",
                _ if *masked => "'***'",
                _ => continue,
            };
            text.push_str(sql.get(copied..range.start).unwrap_or_default());
            text.push_str(replacement);
            copied = range.end;
        }
        text.push_str(sql.get(copied..).unwrap_or_default());
        MaskedStatement {
            text,
            masked_params: self.masked_params.clone(),
            all_params_masked: false,
        }
    }
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of sqlparser's 1-based (line, column in characters) location.
fn byte_offset(sql: &str, starts: &[usize], line: u64, column: u64) -> Option<usize> {
    let start = *starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(column).ok()?.checked_sub(1)?;
    let rest = sql.get(start..)?;
    rest.char_indices().nth(column).map(|(i, _)| start + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{mask_literals, shape};

    fn check(dialect: Dialect, sensitive: &[&str], texts: &[&str]) {
        let s = SensitiveColumns::new(sensitive.iter().copied()).unwrap();
        let first = shape(dialect, texts[0]).unwrap();
        let plan = LiteralPlan::new(dialect, texts[0], &first, &s).expect("a plan");
        for t in texts {
            let sh = shape(dialect, t).unwrap();
            assert_eq!(sh.key(), first.key());
            for mode in [LiteralMode::Mask, LiteralMode::Redact] {
                let planned = plan.render(t, &sh, mode);
                let full = mask_literals(dialect, t, &s, mode);
                // The same values masked, the same parameters: compare with the parser's
                // rendering, which may respell keywords and spacing.
                assert_eq!(planned.masked_params, full.masked_params, "{t}");
                assert_eq!(
                    planned.text.matches("'***'").count(),
                    full.text.matches("'***'").count(),
                    "{t}: {} vs {}",
                    planned.text,
                    full.text
                );
                assert_eq!(
                    planned.text.matches('?').count(),
                    full.text.matches('?').count(),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn plans_mask_what_the_parser_masks() {
        check(
            Dialect::Postgres,
            &["customers.ssn", "email"],
            &[
                "SELECT * FROM customers WHERE ssn = '123-45-6789' AND id = 3 AND email IN ('a@x', 'b@y')",
                "SELECT * FROM customers WHERE ssn = 'x' AND id = 4 AND email IN ('c', 'd')",
            ],
        );
        check(
            Dialect::Postgres,
            &["customers.ssn"],
            &[
                "INSERT INTO customers (id, ssn, name) VALUES (1, '111', 'Ann'), (2, '222', 'Bob')",
                "INSERT INTO customers (id, ssn, name) VALUES (3, '333', 'Cy'), (4, '444', 'Di')",
            ],
        );
        check(
            Dialect::MySql,
            &["ssn"],
            &[
                "UPDATE customers SET ssn = ?, name = 'é' WHERE id = ? AND ssn = '1'",
                "UPDATE customers SET ssn = ?, name = 'ü' WHERE id = ? AND ssn = '2'",
            ],
        );
        check(
            Dialect::Postgres,
            &["ssn"],
            &[
                "SELECT a\nFROM t\nWHERE ssn\n  = 'multi\nline' AND b = -5",
                "SELECT a\nFROM t\nWHERE ssn\n  = 'x' AND b = -6",
            ],
        );
    }

    #[test]
    fn no_plan_where_it_would_not_hold_for_the_shape() {
        let s = SensitiveColumns::new(["flag", "ssn"]).unwrap();
        let d = Dialect::Postgres;
        for sql in [
            // `true` is not a shape literal, but it is masked.
            "UPDATE t SET flag = true, a = 1",
            "CREATE TABLE t2 AS SELECT 1",
            "SELEC 1",
        ] {
            let sh = shape(d, sql).unwrap();
            assert_eq!(LiteralPlan::new(d, sql, &sh, &s), None, "{sql}");
        }
    }
}

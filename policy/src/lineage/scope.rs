//! What a query's FROM items and CTEs bring into scope, and how names resolve against them.
//!
//! A relation knows how to answer "where would your column `x` come from?" and "where does
//! every one of your columns come from?". Base tables answer with themselves; derived tables
//! and CTEs answer with the lineage of their own outputs, so that an outer `t.x` resolves
//! through any number of subqueries to the base columns underneath.

use std::collections::HashSet;
use std::rc::Rc;

use super::Source;

/// How many relations deep a name lookup may follow `*` expansions (`WITH a AS (SELECT * FROM
/// t), b AS (SELECT * FROM a), …`) before it gives up with [`Source::Opaque`]. It also bounds
/// how long a chain of `Rc<Relation>` can get, so dropping one never recurses deeply.
pub(super) const MAX_STAR_CHAIN: usize = 32;

/// A deduplicated, insertion-ordered list of sources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Sources {
    list: Vec<Source>,
    seen: HashSet<Source>,
}

impl Sources {
    pub(super) fn push(&mut self, source: Source) {
        if !self.seen.contains(&source) {
            self.seen.insert(source.clone());
            self.list.push(source);
        }
    }

    pub(super) fn extend<'a>(&mut self, sources: impl IntoIterator<Item = &'a Source>) {
        for s in sources {
            self.push(s.clone());
        }
    }

    pub(super) fn into_vec(self) -> Vec<Source> {
        self.list
    }
}

/// Where one value comes from, before it is given a name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Col {
    pub(super) sources: Vec<Source>,
    pub(super) direct: bool,
}

impl Col {
    pub(super) fn opaque() -> Col {
        Col {
            sources: vec![Source::Opaque],
            direct: false,
        }
    }

    pub(super) fn derived(sources: Vec<Source>) -> Col {
        Col {
            sources,
            direct: false,
        }
    }

    /// Either of two values (UNION branches, candidate relations): the sources of both,
    /// direct when each is a column passed through unchanged.
    pub(super) fn union(&self, other: &Col) -> Col {
        let mut sources = Sources::default();
        sources.extend(&self.sources);
        sources.extend(&other.sources);
        Col {
            sources: sources.into_vec(),
            direct: self.direct && other.direct,
        }
    }
}

/// One entry of a query's output list.
#[derive(Clone, Debug)]
pub(super) enum Item {
    /// A column whose position is known.
    Column { name: Option<String>, col: Col },
    /// A `*` or `t.*`: every column of these relations, in an order the text does not tell.
    Star(Vec<Rc<Relation>>),
}

/// The output of a query, or of a DML statement's RETURNING list.
#[derive(Clone, Debug, Default)]
pub(super) struct QueryOut {
    pub(super) items: Vec<Item>,
}

impl QueryOut {
    pub(super) fn opaque() -> QueryOut {
        QueryOut {
            items: vec![Item::Column {
                name: None,
                col: Col::opaque(),
            }],
        }
    }

    /// The columns in order, or `None` when a `*` hides how many there are.
    pub(super) fn columns(&self) -> Option<Vec<(Option<String>, Col)>> {
        self.items
            .iter()
            .map(|item| match item {
                Item::Column { name, col } => Some((name.clone(), col.clone())),
                Item::Star(_) => None,
            })
            .collect()
    }

    /// Every source of every output, `*` expansions included.
    pub(super) fn all(&self) -> Vec<Source> {
        let mut all = Sources::default();
        for item in &self.items {
            match item {
                Item::Column { col, .. } => all.extend(&col.sources),
                Item::Star(relations) => {
                    for r in relations {
                        all.extend(&r.all);
                    }
                }
            }
        }
        all.into_vec()
    }

    /// The longest `*` chain behind these outputs (see [`MAX_STAR_CHAIN`]).
    fn chain(&self) -> usize {
        self.items
            .iter()
            .map(|item| match item {
                Item::Column { .. } => 0,
                Item::Star(relations) => relations.iter().map(|r| r.chain).max().unwrap_or(0),
            })
            .max()
            .unwrap_or(0)
    }

    /// Gives the outputs the names of an alias column list (`AS t(a, b)`, `WITH t(a, b) AS`).
    pub(super) fn rename(self, names: &[String]) -> QueryOut {
        if names.is_empty() {
            return self;
        }
        match self.columns() {
            Some(columns) => {
                let items = columns
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, col))| Item::Column {
                        name: names.get(i).cloned().or(name),
                        col,
                    })
                    .collect();
                QueryOut { items }
            }
            // Which column of a `*` gets which name is unknown: every name may be any of them.
            None => {
                let col = Col::derived(self.all());
                let items = names
                    .iter()
                    .map(|n| Item::Column {
                        name: Some(n.clone()),
                        col: col.clone(),
                    })
                    .collect();
                QueryOut { items }
            }
        }
    }

    fn lookup(&self, column: &str, budget: usize) -> Lookup {
        let mut found: Option<Col> = None;
        for item in &self.items {
            if let Item::Column { name: Some(n), col } = item {
                if n == column || n.eq_ignore_ascii_case(column) {
                    found = Some(match found {
                        Some(f) => f.union(col),
                        None => col.clone(),
                    });
                }
            }
        }
        if let Some(col) = found {
            return Lookup::Definite(col);
        }
        let mut maybe: Option<Col> = None;
        for item in &self.items {
            if let Item::Star(relations) = item {
                for r in relations {
                    if let Lookup::Definite(col) | Lookup::Maybe(col) = r.lookup(column, budget) {
                        maybe = Some(match maybe {
                            Some(m) => m.union(&col),
                            None => col,
                        });
                    }
                }
            }
        }
        maybe.map_or(Lookup::Absent, Lookup::Maybe)
    }
}

/// The answer of a relation to "do you have column `x`?".
pub(super) enum Lookup {
    /// Yes, and this is where it comes from.
    Definite(Col),
    /// It may (a base table's columns are not known here), and this is where it would come from.
    Maybe(Col),
    /// No.
    Absent,
}

/// Something in a FROM list.
#[derive(Debug)]
pub(super) struct Relation {
    /// The name it is referred to by: its alias, or the table's own name.
    pub(super) name: Option<String>,
    /// The schema a non-aliased base table was qualified with, for `schema.table.column`.
    pub(super) schema: Option<String>,
    pub(super) kind: RelKind,
    /// Every source of every column of the relation.
    pub(super) all: Vec<Source>,
    chain: usize,
}

#[derive(Debug)]
pub(super) enum RelKind {
    /// A table (or view) of the database. `renamed` when an alias column list hides which
    /// column is which.
    Base {
        schema: Option<String>,
        table: String,
        renamed: bool,
    },
    /// A derived table, CTE or RETURNING list.
    Derived(QueryOut),
    /// A set-returning function: its columns come from its arguments. `columns` are the alias
    /// column names, when given.
    Function { columns: Vec<String> },
    /// A parenthesized join with an alias: any member may have the column.
    Group(Vec<Rc<Relation>>),
    /// Something not followed: every column of it is [`Source::Opaque`].
    Opaque,
}

impl Relation {
    pub(super) fn base(
        alias: Option<String>,
        schema: Option<String>,
        table: String,
        renamed: bool,
    ) -> Relation {
        Relation {
            schema: if alias.is_none() {
                schema.clone()
            } else {
                None
            },
            name: Some(alias.unwrap_or_else(|| table.clone())),
            all: vec![Source::AllColumns {
                schema: schema.clone(),
                table: table.clone(),
            }],
            kind: RelKind::Base {
                schema,
                table,
                renamed,
            },
            chain: 0,
        }
    }

    pub(super) fn derived(name: Option<String>, out: QueryOut) -> Relation {
        let chain = out.chain() + 1;
        let all = out.all();
        if chain > MAX_STAR_CHAIN {
            // Too long a chain of `*`s to follow: keep what it may hold, not how.
            return Relation::function(name, Vec::new(), all);
        }
        Relation {
            name,
            schema: None,
            kind: RelKind::Derived(out),
            all,
            chain,
        }
    }

    pub(super) fn function(
        name: Option<String>,
        columns: Vec<String>,
        all: Vec<Source>,
    ) -> Relation {
        Relation {
            name,
            schema: None,
            kind: RelKind::Function { columns },
            all,
            chain: 0,
        }
    }

    pub(super) fn group(name: Option<String>, members: Vec<Rc<Relation>>) -> Relation {
        let mut all = Sources::default();
        for m in &members {
            all.extend(&m.all);
        }
        let chain = members.iter().map(|m| m.chain).max().unwrap_or(0) + 1;
        if chain > MAX_STAR_CHAIN {
            return Relation::function(name, Vec::new(), all.into_vec());
        }
        Relation {
            name,
            schema: None,
            kind: RelKind::Group(members),
            all: all.into_vec(),
            chain,
        }
    }

    pub(super) fn opaque(name: Option<String>) -> Relation {
        Relation {
            name,
            schema: None,
            kind: RelKind::Opaque,
            all: vec![Source::Opaque],
            chain: 0,
        }
    }

    /// Where this relation's column `column` would come from.
    pub(super) fn lookup(&self, column: &str, budget: usize) -> Lookup {
        let Some(budget) = budget.checked_sub(1) else {
            return Lookup::Maybe(Col::opaque());
        };
        match &self.kind {
            RelKind::Base {
                schema,
                table,
                renamed: false,
            } => Lookup::Maybe(Col {
                sources: vec![Source::Column {
                    tables: vec![(schema.clone(), table.clone())],
                    column: column.to_string(),
                }],
                direct: true,
            }),
            RelKind::Base { renamed: true, .. } => Lookup::Maybe(Col::derived(self.all.clone())),
            RelKind::Derived(out) => out.lookup(column, budget),
            RelKind::Function { columns } => {
                let named =
                    columns.iter().any(|c| c == column) || self.name.as_deref() == Some(column);
                if !columns.is_empty() && !named {
                    Lookup::Absent
                } else {
                    Lookup::Maybe(Col::derived(self.all.clone()))
                }
            }
            RelKind::Group(members) => {
                let mut found: Option<Col> = None;
                let mut definite = false;
                for m in members {
                    let col = match m.lookup(column, budget) {
                        Lookup::Definite(c) => {
                            definite = true;
                            c
                        }
                        Lookup::Maybe(c) => c,
                        Lookup::Absent => continue,
                    };
                    found = Some(match found {
                        Some(f) => f.union(&col),
                        None => col,
                    });
                }
                match found {
                    Some(c) if definite => Lookup::Definite(c),
                    Some(c) => Lookup::Maybe(c),
                    None => Lookup::Absent,
                }
            }
            RelKind::Opaque => Lookup::Maybe(Col::opaque()),
        }
    }

    /// The base table behind this relation, for merging unqualified-column candidates.
    pub(super) fn base_table(&self) -> Option<(Option<String>, String)> {
        match &self.kind {
            RelKind::Base {
                schema,
                table,
                renamed: false,
            } => Some((schema.clone(), table.clone())),
            _ => None,
        }
    }

    /// Whether `qualifier` (one or two name parts) names this relation.
    pub(super) fn is_named(&self, qualifier: &[String], exact: bool) -> bool {
        let eq = |a: &str, b: &str| {
            if exact {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        match qualifier {
            [name] => self.name.as_deref().is_some_and(|n| eq(n, name)),
            [schema, name] => {
                self.name.as_deref().is_some_and(|n| eq(n, name))
                    && self.schema.as_deref().is_some_and(|s| eq(s, schema))
            }
            _ => false,
        }
    }
}

/// One level of name scope: a query's FROM items and the CTEs its WITH defines.
#[derive(Default)]
pub(super) struct Scope<'p> {
    pub(super) parent: Option<&'p Scope<'p>>,
    pub(super) relations: Vec<Rc<Relation>>,
    pub(super) ctes: Vec<(String, Rc<QueryOut>)>,
}

impl<'p> Scope<'p> {
    pub(super) fn child(parent: &'p Scope<'p>) -> Scope<'p> {
        Scope {
            parent: Some(parent),
            relations: Vec::new(),
            ctes: Vec::new(),
        }
    }

    pub(super) fn levels(&self) -> impl Iterator<Item = &Scope<'p>> {
        std::iter::successors(Some(self), |s| s.parent)
    }

    /// The CTE a one-part table name refers to, innermost first.
    pub(super) fn cte(&self, name: &str) -> Option<Rc<QueryOut>> {
        self.levels().find_map(|level| {
            level
                .ctes
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, r)| Rc::clone(r))
        })
    }

    /// The relation a qualifier names, innermost first; exact spelling before case-folded.
    pub(super) fn relation(&self, qualifier: &[String]) -> Option<Rc<Relation>> {
        [true, false].into_iter().find_map(|exact| {
            self.levels().find_map(|level| {
                level
                    .relations
                    .iter()
                    .rev()
                    .find(|r| r.is_named(qualifier, exact))
                    .cloned()
            })
        })
    }

    /// Where an unqualified column comes from: every relation that may have it, level by
    /// level outwards, stopping at the first level where some relation definitely has it.
    /// Several base tables give one [`Source::Column`] naming them all.
    pub(super) fn resolve_column(&self, column: &str) -> Option<Col> {
        let mut tables: Vec<(Option<String>, String)> = Vec::new();
        let mut others: Vec<Col> = Vec::new();
        for level in self.levels() {
            let mut definite = false;
            for r in &level.relations {
                match r.lookup(column, MAX_STAR_CHAIN) {
                    Lookup::Definite(col) => {
                        definite = true;
                        others.push(col);
                    }
                    Lookup::Maybe(col) => match r.base_table() {
                        Some(t) if !tables.contains(&t) => tables.push(t),
                        Some(_) => {}
                        None => others.push(col),
                    },
                    Lookup::Absent => {}
                }
            }
            if definite {
                break;
            }
        }
        let mut candidates = others;
        if !tables.is_empty() {
            candidates.insert(
                0,
                Col {
                    sources: vec![Source::Column {
                        tables,
                        column: column.to_string(),
                    }],
                    direct: true,
                },
            );
        }
        candidates.into_iter().reduce(|a, b| a.union(&b))
    }

    /// The relations of this level (what an unqualified `*` expands to).
    pub(super) fn own_relations(&self) -> Vec<Rc<Relation>> {
        self.relations.clone()
    }
}

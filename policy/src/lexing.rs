//! Session settings that change where a string or an identifier ends, and how sluice keeps up.
//!
//! Two settings make a server read the same bytes differently: PostgreSQL's
//! `standard_conforming_strings = off` (backslashes escape inside plain `'…'` strings) and
//! MySQL's `NO_BACKSLASH_ESCAPES` (backslashes stop escaping) and `ANSI_QUOTES` (`"…"` is an
//! identifier, not a string). Under them `SELECT 'a\'' ; DROP TABLE t; -- '` is one harmless
//! statement to one reader and a `DROP` to the other. Everything else in this crate reads text
//! the way the server does by *default*, so [`standardize`] rewrites text written under another
//! [`LexMode`] into the default spelling of the same tokens (`'a\''` becomes `E'a\''` for
//! PostgreSQL, `'a\'` becomes `'a\\'` for MySQL, `"t"` becomes `` `t` `` under `ANSI_QUOTES`),
//! and [`reads_alike`] tells whether a text splits into the same strings, identifiers and
//! comments under several modes, for the moments when sluice cannot know which one is in force.
//!
//! The scanners below follow the servers' own lexers (PostgreSQL's `scan.l`, MariaDB's
//! `sql_lex.cc`) for exactly the constructs that decide boundaries: comments, quoted strings
//! with their prefixes and continuations, quoted identifiers, dollar quotes and MySQL
//! executable comments. They never fail: an unterminated construct runs to the end.

use std::borrow::Cow;

use crate::uescape::uescape_clause;

use crate::Dialect;

/// How the server lexes quotes right now.
///
/// ```
/// use policy::{Dialect, LexMode};
/// assert!(LexMode::standard(Dialect::MySql).backslash_escapes);
/// assert!(!LexMode::standard(Dialect::Postgres).backslash_escapes);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LexMode {
    /// A backslash escapes the next character inside plain `'…'` strings (and MySQL's `"…"`
    /// strings). PostgreSQL: `standard_conforming_strings = off`. MySQL: the default, turned
    /// off by `NO_BACKSLASH_ESCAPES`.
    pub backslash_escapes: bool,
    /// MySQL `ANSI_QUOTES` (also implied by `ANSI`, `ORACLE`, …): `"…"` quotes an identifier.
    /// Always false for PostgreSQL.
    pub ansi_quotes: bool,
    /// The MySQL or MariaDB server, which decides which version-conditional comments
    /// (`/*!50700 … */`) run; `None`: every one is taken to run.
    pub server: Option<MysqlServer>,
}

/// A MySQL or MariaDB server, as far as executable comments are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MysqlServer {
    /// `major * 10000 + minor * 100 + patch`: 101119 for 10.11.19.
    pub version_id: u32,
    /// MariaDB (which also runs `/*M! … */` and reads five-digit versions its own way).
    pub mariadb: bool,
}

impl MysqlServer {
    /// From the version in the server's greeting (`8.0.36`, `5.5.5-10.11.19-MariaDB-…`).
    ///
    /// ```
    /// let s = policy::MysqlServer::from_version("5.5.5-10.11.19-MariaDB-0+deb12u1").unwrap();
    /// assert_eq!((s.version_id, s.mariadb), (101119, true));
    /// ```
    pub fn from_version(version: &str) -> Option<MysqlServer> {
        let mariadb = version.contains("MariaDB");
        let version = version.strip_prefix("5.5.5-").unwrap_or(version);
        let mut parts = version
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|p| p.parse::<u32>().ok());
        let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
        Some(MysqlServer {
            version_id: major * 10000 + minor.min(99) * 100 + patch.min(99),
            mariadb,
        })
    }

    /// Whether this server runs an executable comment (`/*!`, or MariaDB's `/*M!`) with this
    /// version number, as measured on MariaDB 10.11: a five-digit `/*!` version runs below
    /// 50700 (MariaDB skips code meant for MySQL 5.7 and later), a six-digit one up to its
    /// own version, and every `/*M!` five-digit version. MySQL runs up to its own version and
    /// reads `/*M!` as an ordinary comment.
    fn runs(self, mariadb_marker: bool, version: CommentVersion) -> bool {
        match (self.mariadb, mariadb_marker, version) {
            (false, true, _) => false,
            (_, _, None) => true,
            (true, false, Some((v, 5))) => v < 50700,
            (true, true, Some((_, 5))) => true,
            (_, _, Some((v, _))) => v <= self.version_id,
        }
    }
}

impl LexMode {
    /// The server's default: what the rest of this crate assumes.
    pub fn standard(dialect: Dialect) -> LexMode {
        LexMode {
            backslash_escapes: dialect == Dialect::MySql,
            ansi_quotes: false,
            server: None,
        }
    }

    /// True when quotes read as in [`LexMode::standard`] for `dialect` (the server aside).
    pub fn is_standard(self, dialect: Dialect) -> bool {
        let standard = LexMode::standard(dialect);
        self.backslash_escapes == standard.backslash_escapes
            && self.ansi_quotes == standard.ansi_quotes
    }

    /// Every mode a server of `dialect` can be in.
    ///
    /// ```
    /// use policy::{Dialect, LexMode};
    /// assert_eq!(LexMode::all(Dialect::Postgres).len(), 2);
    /// assert_eq!(LexMode::all(Dialect::MySql).len(), 4);
    /// ```
    pub fn all(dialect: Dialect) -> Vec<LexMode> {
        let ansi: &[bool] = match dialect {
            Dialect::Postgres => &[false],
            Dialect::MySql => &[false, true],
        };
        let mut modes = Vec::with_capacity(4);
        for &backslash_escapes in &[false, true] {
            for &ansi_quotes in ansi {
                modes.push(LexMode {
                    backslash_escapes,
                    ansi_quotes,
                    server: None,
                });
            }
        }
        modes
    }
}

/// What a quoted or commented stretch of text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Comment,
    /// A string literal. `plain`: its backslashes follow the mode (PostgreSQL `'…'`/`N'…'`,
    /// MySQL `'…'`/`"…"`), as opposed to `E'…'`, bit strings, `U&'…'` and dollar quotes.
    Str {
        plain: bool,
    },
    /// A quoted identifier; `ansi`: a MySQL `"…"` read under `ANSI_QUOTES`.
    Ident {
        ansi: bool,
    },
}

/// One quoted or commented stretch: `start..end` in the text, and the spans of its contents
/// (a PostgreSQL string continued across lines has several).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Region {
    class: Class,
    start: usize,
    end: usize,
    parts: Vec<(usize, usize)>,
    /// False when the text ended inside it.
    closed: bool,
    /// A MySQL version-conditional comment: `Some(true)` the opening marker of one the server
    /// runs, `Some(false)` one it skips (the whole comment; its text in `parts`).
    runs: Option<bool>,
}

/// Rewrites `sql`, read under `mode`, into the spelling the server would read the same way
/// under [`LexMode::standard`]. Borrowed when nothing changes (always, for the standard mode).
///
/// ```
/// use policy::{standardize, Dialect, LexMode};
/// let off = LexMode { backslash_escapes: true, ansi_quotes: false, server: None };
/// assert_eq!(standardize(Dialect::Postgres, off, r"SELECT 'a\'' ; DROP TABLE t; -- '"),
///            r"SELECT E'a\'' ; DROP TABLE t; -- '");
/// let nbe = LexMode { backslash_escapes: false, ansi_quotes: false, server: None };
/// assert_eq!(standardize(Dialect::MySql, nbe, r"SELECT 'a\' ; DROP TABLE t; -- '"),
///            r"SELECT 'a\\' ; DROP TABLE t; -- '");
/// let ansi = LexMode { backslash_escapes: true, ansi_quotes: true, server: None };
/// assert_eq!(standardize(Dialect::MySql, ansi, r#"SELECT "ssn" FROM "t""#), "SELECT `ssn` FROM `t`");
/// // PostgreSQL's Unicode escapes, in every mode: the name the server reads.
/// let pg = LexMode::standard(Dialect::Postgres);
/// assert_eq!(standardize(Dialect::Postgres, pg, r#"SELECT x.U&"\0073sn" FROM U&"pg\005fstats" x"#),
///            r#"SELECT x."ssn" FROM "pg_stats" x"#);
/// assert_eq!(standardize(Dialect::Postgres, pg, r#"SELECT u&"!0073sn" UESCAPE '!', U&'it''s \00e9'"#),
///            r#"SELECT "ssn", 'it''s é'"#);
/// ```
pub fn standardize(dialect: Dialect, mode: LexMode, sql: &str) -> Cow<'_, str> {
    let versioned = || sql.contains("/*!") || sql.contains("/*M!");
    let plain = match dialect {
        Dialect::Postgres => !pg_continues(sql.as_bytes()) && !has_unicode_escapes(sql),
        Dialect::MySql => mode.server.is_none() || !versioned(),
    };
    if mode.is_standard(dialect) && plain {
        return Cow::Borrowed(sql);
    }
    let regions = scan(dialect, mode, sql);
    let unicode = |r: &Region| {
        dialect == Dialect::Postgres
            && matches!(r.class, Class::Str { .. } | Class::Ident { .. })
            && sql
                .get(r.start..r.start + 2)
                .is_some_and(|p| p.eq_ignore_ascii_case("u&"))
    };
    let rewrites = |r: &Region| match (dialect, r.class) {
        _ if unicode(r) => r.closed,
        (_, Class::Comment) => r.runs.is_some(),
        // A string continued on the next line is one string: its parts are joined.
        (Dialect::Postgres, Class::Str { .. }) if r.parts.len() > 1 => true,
        (Dialect::Postgres, Class::Str { plain: true }) => mode.backslash_escapes,
        (Dialect::MySql, Class::Str { plain: true }) => {
            !mode.backslash_escapes && sql[r.start..r.end].contains('\\')
        }
        (Dialect::MySql, Class::Ident { ansi: true }) => true,
        _ => false,
    };
    if !regions.iter().any(rewrites) {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut at = 0;
    for r in regions.iter().filter(|r| rewrites(r)) {
        // A region inside a `UESCAPE` clause already rewritten with its literal.
        if r.start < at {
            continue;
        }
        out.push_str(&sql[at..r.start]);
        if unicode(r) {
            at = push_unicode_literal(&mut out, sql, r);
            continue;
        }
        let content = r.parts.iter().map(|&(a, b)| &sql[a..b]);
        match r.class {
            // A comment the server runs is plain `/*!` code; one it skips, a plain comment.
            Class::Comment if r.runs == Some(true) => out.push_str("/*!"),
            Class::Comment => {
                out.push_str("/*");
                out.push_str(&sql[r.parts.first().map_or(r.end, |p| p.0)..r.end]);
            }
            // An unterminated string stays unterminated: the server rejects it either way.
            Class::Str { plain } if dialect == Dialect::Postgres => {
                let opening = r.parts.first().map_or(r.start, |p| p.0.saturating_sub(1));
                let prefix = match plain && mode.backslash_escapes {
                    true => "E",
                    false => &sql[r.start..opening],
                };
                out.push_str(prefix);
                out.push('\'');
                content.for_each(|c| out.push_str(c));
                out.push_str(if r.closed { "'" } else { "" });
            }
            Class::Str { .. } => {
                let quote = &sql[r.start..r.start + 1];
                out.push_str(quote);
                content.for_each(|c| out.push_str(&c.replace('\\', "\\\\")));
                out.push_str(if r.closed { quote } else { "" });
            }
            _ => {
                out.push('`');
                content.for_each(|c| out.push_str(&c.replace("\"\"", "\"").replace('`', "``")));
                out.push_str(if r.closed { "`" } else { "" });
            }
        }
        at = r.end;
    }
    out.push_str(&sql[at..]);
    Cow::Owned(out)
}

/// Whether `sql` may hold a PostgreSQL `U&'…'` or `U&"…"` literal.
fn has_unicode_escapes(sql: &str) -> bool {
    sql.as_bytes()
        .windows(3)
        .any(|w| matches!(w[0], b'u' | b'U') && w[1] == b'&' && matches!(w[2], b'\'' | b'"'))
}

/// Writes a `U&` literal (and its `UESCAPE` clause) as the plain literal the server reads, and
/// returns where the original ends. One that does not decode is kept as written: the server
/// refuses it too.
fn push_unicode_literal(out: &mut String, sql: &str, r: &Region) -> usize {
    let quote = if matches!(r.class, Class::Ident { .. }) {
        '"'
    } else {
        '\''
    };
    let (escape, end) = uescape_clause(sql, r.end).unwrap_or(('\\', r.end));
    let body = r
        .parts
        .first()
        .map_or("", |&(a, b)| &sql[a..b])
        .replace(&format!("{quote}{quote}"), &quote.to_string());
    match crate::uescape::decode_unicode_escapes(&body, escape) {
        Some(text) => {
            out.push(quote);
            out.push_str(&text.replace(quote, &format!("{quote}{quote}")));
            out.push(quote);
            end
        }
        None => {
            out.push_str(&sql[r.start..r.end]);
            r.end
        }
    }
}

/// True when `sql` splits into the same strings, identifiers and comments, at the same places,
/// under every one of `modes`: then its statements and their tokens do not depend on which
/// mode the server is in (string *contents* may: `'a\nb'`).
///
/// ```
/// use policy::{reads_alike, Dialect, LexMode};
/// let pg = LexMode::all(Dialect::Postgres);
/// assert!(reads_alike(Dialect::Postgres, &pg, r"SELECT 'C:\path', E'\'' FROM t"));
/// assert!(!reads_alike(Dialect::Postgres, &pg, r"SELECT 'a\'' ; DROP TABLE t; -- '"));
/// let my = LexMode::all(Dialect::MySql);
/// assert!(!reads_alike(Dialect::MySql, &my, r#"SELECT "a""#)); // a string, or a column
/// ```
pub fn reads_alike(dialect: Dialect, modes: &[LexMode], sql: &str) -> bool {
    let sensitive = match dialect {
        Dialect::Postgres => sql.contains('\\'),
        Dialect::MySql => sql.contains('\\') || sql.contains('"'),
    };
    if !sensitive || modes.len() < 2 {
        return true;
    }
    let outline = |mode: LexMode| -> Vec<(Class, usize, usize)> {
        scan(dialect, mode, sql)
            .into_iter()
            .map(|r| (r.class, r.start, r.end))
            .collect()
    };
    let first = outline(modes[0]);
    modes[1..].iter().all(|&m| outline(m) == first)
}

/// Whether a MySQL `sql_mode` value (as the server reports it) makes `"…"` an identifier:
/// `ANSI_QUOTES` itself, or a combination mode that includes it.
///
/// ```
/// assert!(policy::sql_mode_has_ansi_quotes("STRICT_ALL_TABLES,ANSI"));
/// assert!(!policy::sql_mode_has_ansi_quotes("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES"));
/// ```
pub fn sql_mode_has_ansi_quotes(mode: &str) -> bool {
    mode.split(',').any(|m| {
        matches!(
            m.trim().to_ascii_uppercase().as_str(),
            "ANSI_QUOTES" | "ANSI" | "ORACLE" | "POSTGRESQL" | "MSSQL" | "DB2" | "MAXDB"
        )
    })
}

/// Whether a MySQL `sql_mode` value makes `||` string concatenation (`PIPES_AS_CONCAT`, or a
/// combination mode that includes it) rather than OR.
///
/// ```
/// assert!(policy::sql_mode_has_pipes_as_concat("ANSI"));
/// assert!(!policy::sql_mode_has_pipes_as_concat("ANSI_QUOTES"));
/// ```
pub fn sql_mode_has_pipes_as_concat(mode: &str) -> bool {
    mode.split(',').any(|m| {
        matches!(
            m.trim().to_ascii_uppercase().as_str(),
            "PIPES_AS_CONCAT" | "ANSI" | "ORACLE" | "POSTGRESQL" | "MSSQL" | "DB2" | "MAXDB"
        )
    })
}

/// Whether a MySQL text may change how the server reads what follows: it sets `sql_mode` or
/// the client character set (`SET NAMES`, `SET CHARACTER SET`, `character_set_client`,
/// `charset`), or executes prepared SQL. Whole words are matched, in any case, wherever they
/// stand (comments included: `/*!40101 SET NAMES utf8 */` runs). Those settings change only
/// by `SET`, so a text without that word only reads them (`SELECT @@sql_mode`, a procedure
/// body; a routine runs under its own `sql_mode` and restores the caller's).
///
/// ```
/// assert!(policy::may_change_reading("SET @@session.`SQL_MODE` = 'ANSI_QUOTE\\S'"));
/// assert!(policy::may_change_reading("EXECUTE s"));
/// assert!(policy::may_change_reading("/*!40101 SET NAMES gbk */"));
/// assert!(!policy::may_change_reading("SELECT \"a\" FROM first_names"));
/// assert!(!policy::may_change_reading("SELECT @@sql_mode; SELECT \"t1\".* FROM t1"));
/// ```
pub fn may_change_reading(sql: &str) -> bool {
    const SETTINGS: &[&str] = &[
        "sql_mode",
        "names",
        "charset",
        "character",
        "character_set_client",
    ];
    let (mut set, mut setting) = (false, false);
    for w in sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if w.eq_ignore_ascii_case("execute") {
            return true;
        }
        set |= w.eq_ignore_ascii_case("set");
        setting |= SETTINGS.iter().any(|k| w.eq_ignore_ascii_case(k));
    }
    set && setting
}

/// Client character sets (MySQL) and encodings (PostgreSQL) whose two-byte characters may end
/// in an ASCII byte such as `\` or `` ` ``: the server reads such a byte as part of a
/// character where a byte-wise reader sees punctuation.
///
/// ```
/// assert!(policy::multibyte_hazard("gbk"));
/// assert!(policy::multibyte_hazard("SJIS"));
/// assert!(!policy::multibyte_hazard("utf8mb4"));
/// assert!(!policy::multibyte_hazard("LATIN1"));
/// ```
pub fn multibyte_hazard(charset: &str) -> bool {
    matches!(
        charset.trim().to_ascii_lowercase().as_str(),
        "big5" | "cp932" | "gbk" | "sjis" | "gb18030" | "shift_jis_2004" | "uhc" | "johab"
    )
}

/// MySQL reads `||` as OR (unless `PIPES_AS_CONCAT`, which sluice refuses to guess about) and
/// `&&` as AND, where sqlparser reads `||` as string concatenation: `DELETE FROM t WHERE id = 1
/// || 1` deletes every row. Rewrites both, outside strings, identifiers and comments, into the
/// words sqlparser reads the same way as the server.
pub(crate) fn mysql_logical_operators(sql: &str) -> Cow<'_, str> {
    if !sql.contains("||") && !sql.contains("&&") {
        return Cow::Borrowed(sql);
    }
    let regions = scan_mysql(sql.as_bytes(), LexMode::standard(Dialect::MySql));
    let mut out = String::with_capacity(sql.len() + 8);
    let mut at = 0;
    let code = |out: &mut String, gap: &str| {
        out.push_str(&gap.replace("||", " OR ").replace("&&", " AND "));
    };
    for r in &regions {
        code(&mut out, &sql[at..r.start]);
        out.push_str(&sql[r.start..r.end]);
        at = r.end;
    }
    code(&mut out, &sql[at..]);
    Cow::Owned(out)
}

fn scan(dialect: Dialect, mode: LexMode, sql: &str) -> Vec<Region> {
    match dialect {
        Dialect::Postgres => scan_postgres(sql.as_bytes(), mode),
        Dialect::MySql => scan_mysql(sql.as_bytes(), mode),
    }
}

/// PostgreSQL identifier characters (`scan.l`'s `ident_cont`; bytes ≥ 0x80 are letters).
fn pg_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn pg_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn scan_postgres(b: &[u8], mode: LexMode) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut i = 0;
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    while i < b.len() {
        let (c, next) = (b[i], at(i + 1));
        let start = i;
        let lower = c.to_ascii_lowercase();
        if c == b'-' && next == b'-' {
            i = line_end(b, i);
            regions.push(region(Class::Comment, start, i));
        } else if c == b'/' && next == b'*' {
            i = nested_comment_end(b, i);
            regions.push(region(Class::Comment, start, i));
        } else if c == b'\'' {
            regions.push(pg_string(b, i, i + 1, mode.backslash_escapes, true));
            i = regions.last().map_or(b.len(), |r| r.end);
        } else if next == b'\'' && matches!(lower, b'e' | b'b' | b'x' | b'n') {
            let (escapes, plain) = match lower {
                b'e' => (true, false),
                b'n' => (mode.backslash_escapes, true),
                _ => (false, false),
            };
            regions.push(pg_string(b, start, i + 2, escapes, plain));
            i = regions.last().map_or(b.len(), |r| r.end);
        } else if lower == b'u' && next == b'&' && matches!(at(i + 2), b'\'' | b'"') {
            let quote = at(i + 2);
            let (end, part) = doubled_quote_end(b, i + 3, quote);
            let class = match quote {
                b'"' => Class::Ident { ansi: false },
                _ => Class::Str { plain: false },
            };
            regions.push(quoted(class, start, end, part));
            i = end;
        } else if c == b'"' {
            let (end, part) = doubled_quote_end(b, i + 1, b'"');
            regions.push(quoted(Class::Ident { ansi: false }, start, end, part));
            i = end;
        } else if c == b'$' && !next.is_ascii_digit() {
            match dollar_quote_end(b, i) {
                Some(end) => {
                    regions.push(region(Class::Str { plain: false }, start, end));
                    i = end;
                }
                None => i += 1,
            }
        } else if pg_ident_start(c) {
            while i < b.len() && pg_ident_byte(b[i]) {
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && next.is_ascii_digit()) {
            i = pg_number_end(b, i);
        } else if c == b'$' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    regions
}

/// A quoted run whose body is `part`; it is closed when a quote follows the body.
fn quoted(class: Class, start: usize, end: usize, part: (usize, usize)) -> Region {
    let mut r = with_parts(class, start, end, vec![part]);
    r.closed = end > part.1;
    r
}

fn region(class: Class, start: usize, end: usize) -> Region {
    with_parts(class, start, end, Vec::new())
}

fn with_parts(class: Class, start: usize, end: usize, parts: Vec<(usize, usize)>) -> Region {
    Region {
        class,
        start,
        end,
        parts,
        closed: true,
        runs: None,
    }
}

/// Where a `--` or `#` comment ends (its newline is whitespace, not comment).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |p| i + p)
}

/// PostgreSQL block comments nest.
fn nested_comment_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// A number: digits, a fraction, and an exponent only when digits follow it (`1e'x'` is the
/// number 1 and then an `E'…'` string, as in `scan.l`).
fn pg_number_end(b: &[u8], mut i: usize) -> usize {
    let digits = |b: &[u8], mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    i = digits(b, i);
    if b.get(i) == Some(&b'.') && b.get(i + 1) != Some(&b'.') {
        i = digits(b, i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(|d| d.is_ascii_digit()) {
            i = digits(b, j);
        }
    }
    i
}

/// A PostgreSQL string whose body starts at `body`: `''` is a quote; with `escapes`, a
/// backslash takes the next byte; a string continued on a following line (`'a'\n'b'`) is one
/// string, as the server reads it.
fn pg_string(b: &[u8], start: usize, body: usize, escapes: bool, plain: bool) -> Region {
    let mut parts = Vec::new();
    let mut i = body;
    let mut part_start = body;
    loop {
        match b.get(i) {
            None => {
                parts.push((part_start, b.len()));
                let mut open = with_parts(Class::Str { plain }, start, b.len(), parts);
                open.closed = false;
                return open;
            }
            Some(b'\\') if escapes => i += 2,
            Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
            Some(b'\'') => {
                parts.push((part_start, i));
                match continuation(b, i + 1) {
                    Some(next) => {
                        part_start = next;
                        i = next;
                    }
                    None => return with_parts(Class::Str { plain }, start, i + 1, parts),
                }
            }
            Some(_) => i += 1,
        }
    }
}

/// Whether any quote in `b` is followed by a continuation (see [`continuation`]): only then
/// does a text read under the standard mode need rewriting.
fn pg_continues(b: &[u8]) -> bool {
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'\'' && continuation(b, i + 1).is_some())
}

/// After a closing quote: whitespace with a newline in it (and `--` comments) and another
/// quote continue the string (`scan.l`'s `quotecontinue`). Returns where its body resumes.
fn continuation(b: &[u8], mut i: usize) -> Option<usize> {
    let mut newline = false;
    while i < b.len() {
        match b[i] {
            b'\n' | b'\r' => {
                newline = true;
                i += 1;
            }
            b' ' | b'\t' | b'\x0c' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => i = line_end(b, i),
            b'\'' if newline => return Some(i + 1),
            _ => return None,
        }
    }
    None
}

/// The end of a quoted run whose body starts at `body` and where a doubled `quote` stands for
/// itself; returns the end and the body's span.
fn doubled_quote_end(b: &[u8], body: usize, quote: u8) -> (usize, (usize, usize)) {
    let mut i = body;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return (i + 1, (body, i));
        }
        i += 1;
    }
    (b.len(), (body, b.len()))
}

/// `$tag$ … $tag$` starting at `i`, if `i` opens one.
fn dollar_quote_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j).is_some_and(|&c| pg_ident_start(c)) {
        while b.get(j).is_some_and(|&c| pg_ident_byte(c) && c != b'$') {
            j += 1;
        }
    }
    if b.get(j) != Some(&b'$') {
        return None;
    }
    let tag = &b[i..=j];
    let body = j + 1;
    Some(
        b[body..]
            .windows(tag.len())
            .position(|w| w == tag)
            .map_or(b.len(), |p| body + p + tag.len()),
    )
}

/// MySQL identifier and number characters (identifiers may start with a digit).
fn mysql_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn scan_mysql(b: &[u8], mode: LexMode) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut i = 0;
    let mut executable = false;
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    while i < b.len() {
        let (c, next) = (b[i], at(i + 1));
        let start = i;
        if c == b'#' || (c == b'-' && next == b'-' && mysql_dash_comment(at(i + 2))) {
            i = line_end(b, i);
            regions.push(region(Class::Comment, start, i));
        } else if c == b'/' && next == b'*' {
            let comment_end = |from: usize| {
                b[from..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(b.len(), |p| from + p + 2)
            };
            match executable_comment_body(b, i) {
                // The body of `/*! … */` is code; only its markers are comment.
                Some((body, marker, version)) if !executable => {
                    let runs = mode.server.is_none_or(|s| s.runs(marker, version));
                    let versioned = mode.server.is_some() && (marker || version.is_some());
                    if runs {
                        executable = true;
                        let mut r = region(Class::Comment, start, body);
                        r.runs = versioned.then_some(true);
                        regions.push(r);
                        i = body;
                    } else {
                        i = comment_end(body);
                        let mut r = with_parts(Class::Comment, start, i, vec![(body, i)]);
                        r.runs = Some(false);
                        regions.push(r);
                    }
                }
                _ => {
                    i = comment_end(i + 2);
                    regions.push(region(Class::Comment, start, i));
                }
            }
        } else if c == b'*' && next == b'/' && executable {
            executable = false;
            i += 2;
            regions.push(region(Class::Comment, start, i));
        } else if c == b'`' || (c == b'"' && mode.ansi_quotes) {
            let (end, part) = doubled_quote_end(b, i + 1, c);
            let ansi = c == b'"';
            regions.push(quoted(Class::Ident { ansi }, start, end, part));
            i = end;
        } else if c == b'\'' || c == b'"' {
            let (end, part) = mysql_string_end(b, i + 1, c, mode.backslash_escapes);
            regions.push(quoted(Class::Str { plain: true }, start, end, part));
            i = end;
        } else if mysql_word_byte(c) {
            while i < b.len() && mysql_word_byte(b[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    regions
}

/// `--` starts a comment only before whitespace or a control character (or the end).
fn mysql_dash_comment(after: u8) -> bool {
    after == 0 || after.is_ascii_whitespace() || after.is_ascii_control() || after == 0x0b
}

/// For `/*!`, `/*!50001`, `/*M!`, `/*M!100100`: where the executable body starts, whether it
/// is MariaDB's `M!` form, and its version (number, digit count) if it has one.
/// An executable comment's version: the number and how many digits it was written with.
type CommentVersion = Option<(u32, usize)>;

fn executable_comment_body(b: &[u8], i: usize) -> Option<(usize, bool, CommentVersion)> {
    let mut j = i + 2;
    let marker = b.get(j) == Some(&b'M') && b.get(j + 1) == Some(&b'!');
    if marker {
        j += 1;
    }
    if b.get(j) != Some(&b'!') {
        return None;
    }
    j += 1;
    let digits = b[j..].iter().take_while(|d| d.is_ascii_digit()).count();
    let mut version = None;
    if digits == 5 || digits == 6 {
        version = std::str::from_utf8(&b[j..j + digits])
            .ok()
            .and_then(|v| v.parse().ok())
            .map(|v| (v, digits));
        j += digits;
    }
    Some((j, marker, version))
}

/// A MySQL string body from `body`: a doubled quote stands for itself; with `escapes`, a
/// backslash takes the next byte.
fn mysql_string_end(b: &[u8], body: usize, quote: u8, escapes: bool) -> (usize, (usize, usize)) {
    let mut i = body;
    while i < b.len() {
        match b[i] {
            b'\\' if escapes => i += 2,
            c if c == quote && b.get(i + 1) == Some(&quote) => i += 2,
            c if c == quote => return (i + 1, (body, i)),
            _ => i += 1,
        }
    }
    (b.len(), (body, b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG_OFF: LexMode = LexMode {
        backslash_escapes: true,
        ansi_quotes: false,
        server: None,
    };
    const MY_NBE: LexMode = LexMode {
        backslash_escapes: false,
        ansi_quotes: false,
        server: None,
    };
    const MY_ANSI: LexMode = LexMode {
        backslash_escapes: true,
        ansi_quotes: true,
        server: None,
    };

    fn statements(d: Dialect, sql: &str) -> Vec<crate::StatementKind> {
        crate::analyze(d, sql)
            .statements
            .iter()
            .map(|s| s.kind)
            .collect()
    }

    #[test]
    fn standard_modes_change_nothing() {
        for d in [Dialect::Postgres, Dialect::MySql] {
            let sql = r#"SELECT 'a\'', "b" -- c"#;
            assert!(matches!(
                standardize(d, LexMode::standard(d), sql),
                Cow::Borrowed(_)
            ));
        }
    }

    #[test]
    fn hidden_statements_surface_once_standardized() {
        use crate::StatementKind::{Drop, Select};
        let sql = r"SELECT 'a\'' ; DROP TABLE t; -- '";
        assert_eq!(statements(Dialect::Postgres, sql), [Select]);
        let std = standardize(Dialect::Postgres, PG_OFF, sql);
        assert_eq!(statements(Dialect::Postgres, &std), [Select, Drop]);

        let sql = r"SELECT 'a\' ; DROP TABLE t; -- '";
        assert_eq!(statements(Dialect::MySql, sql), [Select]);
        let std = standardize(Dialect::MySql, MY_NBE, sql);
        assert_eq!(statements(Dialect::MySql, &std), [Select, Drop]);

        let sql = r#"SELECT "a\" ; DROP TABLE t; -- ""#;
        assert_eq!(statements(Dialect::MySql, sql), [Select]);
        let std = standardize(Dialect::MySql, MY_ANSI, sql);
        assert_eq!(statements(Dialect::MySql, &std), [Select, Drop]);
    }

    #[test]
    fn postgres_prefixes_and_continuations() {
        let s = |sql| standardize(Dialect::Postgres, PG_OFF, sql).into_owned();
        assert_eq!(
            s(r"SELECT E'\'', B'01', X'1f', U&'\0041'"),
            r"SELECT E'\'', B'01', X'1f', 'A'"
        );
        assert_eq!(s(r"SELECT N'a\'b'"), r"SELECT E'a\'b'");
        assert_eq!(s("SELECT 'a'\n  'b\\''"), "SELECT E'ab\\''");
        assert_eq!(s("SELECT 'a' 'b'"), "SELECT E'a' E'b'");
        assert_eq!(s("SELECT $$a\\'$$, $q$'$q$"), "SELECT $$a\\'$$, $q$'$q$");
        assert_eq!(s("SELECT 1e'\\''"), "SELECT 1e'\\''");
        assert_eq!(s("SELECT x$1, foo$'a'"), "SELECT x$1, foo$E'a'");
        assert_eq!(
            s("/* /* ' */ ' */ SELECT '\\\\'"),
            "/* /* ' */ ' */ SELECT E'\\\\'"
        );
    }

    #[test]
    fn mysql_comments_strings_and_identifiers() {
        let nbe = |sql| standardize(Dialect::MySql, MY_NBE, sql).into_owned();
        assert_eq!(nbe(r"SELECT 'a\\b', `x\`"), r"SELECT 'a\\\\b', `x\`");
        assert_eq!(nbe("SELECT 1 -- '\\\nFROM t"), "SELECT 1 -- '\\\nFROM t");
        assert_eq!(nbe("SELECT 1 --'\\'"), "SELECT 1 --'\\\\'");
        assert_eq!(nbe("SELECT 1 # '\\\n"), "SELECT 1 # '\\\n");
        assert_eq!(nbe("SELECT /*!50001 '\\' */"), "SELECT /*!50001 '\\\\' */");
        let ansi = |sql| standardize(Dialect::MySql, MY_ANSI, sql).into_owned();
        assert_eq!(ansi(r#"SELECT "a""b`c""#), "SELECT `a\"b``c`");
        assert_eq!(ansi("SELECT 'x\"' FROM t"), "SELECT 'x\"' FROM t");
    }

    #[test]
    fn a_continued_e_string_is_one_string_in_every_mode() {
        let std = LexMode::standard(Dialect::Postgres);
        let sql = "SELECT E'a'\n'\\'' AS a, upper(ssn) FROM t --'";
        let read = standardize(Dialect::Postgres, std, sql);
        assert_eq!(read, "SELECT E'a\\'' AS a, upper(ssn) FROM t --'");
        assert_eq!(statements(Dialect::Postgres, &read).len(), 1);
        let drop = standardize(
            Dialect::Postgres,
            std,
            "SELECT E'a'\n'\\''; DROP TABLE v; --'",
        );
        assert_eq!(
            statements(Dialect::Postgres, &drop),
            [crate::StatementKind::Select, crate::StatementKind::Drop]
        );
        assert!(matches!(
            standardize(Dialect::Postgres, std, "SELECT 'a',\n'b'"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn version_conditional_comments_follow_the_server() {
        let maria = LexMode {
            server: MysqlServer::from_version("5.5.5-10.11.19-MariaDB"),
            ..LexMode::standard(Dialect::MySql)
        };
        let s = |sql| standardize(Dialect::MySql, maria, sql).into_owned();
        assert_eq!(
            s("SELECT 1 /*!99999 , ' */ ; DROP TABLE v; -- '"),
            "SELECT 1 /* , ' */ ; DROP TABLE v; -- '"
        );
        assert_eq!(s("SELECT 1 /*!50699 +1 */"), "SELECT 1 /*! +1 */");
        assert_eq!(s("SELECT 1 /*M!99999 +1 */"), "SELECT 1 /*! +1 */");
        assert_eq!(s("SELECT 1 /*!101120 +1 */"), "SELECT 1 /* +1 */");
        assert_eq!(s("SELECT 1 /*!101119 +1 */"), "SELECT 1 /*! +1 */");
        assert_eq!(s("SELECT 1 /*! +1 */"), "SELECT 1 /*! +1 */");
        let mysql = LexMode {
            server: MysqlServer::from_version("8.0.36"),
            ..LexMode::standard(Dialect::MySql)
        };
        let m = |sql| standardize(Dialect::MySql, mysql, sql).into_owned();
        assert_eq!(m("SELECT 1 /*!80000 +1 */"), "SELECT 1 /*! +1 */");
        assert_eq!(m("SELECT 1 /*M!100000 +1 */"), "SELECT 1 /* +1 */");
        use crate::StatementKind::{Drop, Select};
        assert_eq!(
            statements(
                Dialect::MySql,
                &s("SELECT 1 /*!99999 , ' */ ; DROP TABLE v; -- '")
            ),
            [Select, Drop]
        );
    }

    #[test]
    fn mysql_pipes_and_ampersands_are_or_and_and() {
        assert_eq!(
            mysql_logical_operators("DELETE FROM t WHERE id = 1 || 1 && '||' # ||"),
            "DELETE FROM t WHERE id = 1  OR  1  AND  '||' # ||"
        );
        assert!(matches!(
            mysql_logical_operators("SELECT 1"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn reads_alike_only_when_boundaries_agree() {
        let pg = LexMode::all(Dialect::Postgres);
        assert!(reads_alike(Dialect::Postgres, &pg, r"SELECT '\\', 'x\ny'"));
        assert!(!reads_alike(Dialect::Postgres, &pg, r"SELECT 'x\', 'y'"));
        let my = LexMode::all(Dialect::MySql);
        assert!(reads_alike(
            Dialect::MySql,
            &my,
            "SELECT 'plain', `q` FROM t"
        ));
        assert!(!reads_alike(Dialect::MySql, &my, r"SELECT 'x\'y'"));
        let known_ansi = [MY_NBE, LexMode::standard(Dialect::MySql)];
        assert!(reads_alike(
            Dialect::MySql,
            &known_ansi,
            r#"SELECT "plain""#
        ));
    }

    #[test]
    fn scanners_never_panic_on_ragged_input() {
        let pieces = [
            "'", "\"", "\\", "$", "$a$", "--", "#", "/*", "*/", "/*!", "E'", "U&", "\n", "`", "x",
            "1e",
        ];
        let mut n = 0u32;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let sql = format!("{a}{b}{c}");
                    for d in [Dialect::Postgres, Dialect::MySql] {
                        for m in LexMode::all(d) {
                            let _ = standardize(d, m, &sql);
                            n += 1;
                        }
                    }
                }
            }
        }
        assert!(n > 0);
    }
}

//! Client commands: what each expects back, and the statements sluice treats itself
//! (`KILL`, which names sluice's connection ids, and `LOAD DATA LOCAL INFILE`).

/// Command bytes sluice distinguishes.
pub mod com {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const REFRESH: u8 = 0x07;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_INFO: u8 = 0x0A;
    pub const PROCESS_KILL: u8 = 0x0C;
    pub const DEBUG: u8 = 0x0D;
    pub const PING: u8 = 0x0E;
    pub const CHANGE_USER: u8 = 0x11;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1A;
    pub const SET_OPTION: u8 = 0x1B;
    pub const STMT_FETCH: u8 = 0x1C;
    pub const RESET_CONNECTION: u8 = 0x1F;
}

/// The shape of the response a command gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseKind {
    /// No response at all.
    Nothing,
    /// One packet (OK, ERR, EOF or a string).
    Single,
    /// Result sets, text rows (or OK/ERR), possibly several.
    TextResults,
    /// Result sets with binary rows.
    BinaryResults,
    /// Binary result sets of a COM_STMT_EXECUTE that asked for a cursor: when the server opens
    /// one, the rows come later, with COM_STMT_FETCH.
    CursorResults,
    /// Binary rows until a terminator (COM_STMT_FETCH).
    FetchRows,
    /// COM_STMT_PREPARE_OK and its parameter and column definitions.
    Prepare,
    /// Column definitions until a terminator (COM_FIELD_LIST).
    FieldList,
}

/// What a command gets back; `None` for commands sluice does not relay (replication,
/// COM_CONNECT, COM_TIME, …) and those it handles itself.
pub fn response_kind(command: u8) -> Option<ResponseKind> {
    use ResponseKind::*;
    Some(match command {
        com::INIT_DB
        | com::STATISTICS
        | com::PING
        | com::STMT_RESET
        | com::SET_OPTION
        | com::REFRESH
        | com::DEBUG
        | com::RESET_CONNECTION => Single,
        com::QUERY | com::PROCESS_INFO => TextResults,
        com::STMT_EXECUTE => BinaryResults,
        com::STMT_FETCH => FetchRows,
        com::STMT_PREPARE => Prepare,
        com::FIELD_LIST => FieldList,
        com::STMT_CLOSE | com::STMT_SEND_LONG_DATA => Nothing,
        _ => return None,
    })
}

/// COM_STMT_EXECUTE's cursor types (read only, for update, scrollable): any asks for a cursor.
const CURSOR_TYPES: u8 = 0x07;

/// What a command (or the first packet of a long one) gets back: as [`response_kind`] says,
/// told apart for a COM_STMT_EXECUTE that asks for a cursor. Only then may a "cursor exists"
/// status mean the rows are held back: a stored program's own cursor sets that flag on the
/// results of plain statements too.
pub fn expected_response(payload: &[u8]) -> Option<ResponseKind> {
    let kind = response_kind(*payload.first()?)?;
    // COM_STMT_EXECUTE: command byte, statement id (4 bytes), flags.
    match payload.get(5) {
        Some(flags) if kind == ResponseKind::BinaryResults && flags & CURSOR_TYPES != 0 => {
            Some(ResponseKind::CursorResults)
        }
        _ => Some(kind),
    }
}

/// A `KILL` statement: `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Kill<'a> {
    /// The words before the id, as written (`KILL QUERY`, `KILL HARD CONNECTION`, …).
    pub prefix: Vec<&'a str>,
    pub id: u32,
}

/// Recognises statements sluice must treat itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Special<'a> {
    /// KILL of a connection id; the id must be translated to the upstream thread id.
    Kill(Kill<'a>),
    /// A KILL form that would reach beyond one connection (`KILL USER`, `KILL QUERY ID`).
    KillOther,
    LoadDataLocal,
}

/// Words of a statement, skipping comments; stops at the first quote or punctuation.
fn words(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() && out.len() < 8 {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("/*") && !sql[i..].starts_with("/*!") {
            i = sql[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
        } else if sql[i..].starts_with("/*!") {
            // Executable comment: MySQL runs its content, so its words count.
            i += 3;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        } else if sql[i..].starts_with("*/") {
            i += 2;
        } else if c == b'#'
            || sql[i..].starts_with("-- ")
            || sql[i..].starts_with("--\t")
            || sql[i..] == *"--"
        {
            i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e + 1);
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(&sql[start..i]);
        } else {
            // One whole character: punctuation may be a multi-byte one (`имя`, `«`), and a
            // slice inside it would panic and take the session down.
            let len = sql[i..].chars().next().map_or(1, char::len_utf8);
            out.push(&sql[i..i + len]);
            break;
        }
    }
    out
}

/// Classifies a COM_QUERY text; `None` for ordinary statements.
pub fn special(sql: &str) -> Option<Special<'_>> {
    let w = words(sql);
    let is = |i: usize, kw: &str| w.get(i).is_some_and(|x| x.eq_ignore_ascii_case(kw));
    if is(0, "LOAD") && is(1, "DATA") {
        let mut i = 2;
        if is(i, "LOW_PRIORITY") || is(i, "CONCURRENT") {
            i += 1;
        }
        return is(i, "LOCAL").then_some(Special::LoadDataLocal);
    }
    if !is(0, "KILL") {
        return None;
    }
    let mut i = 1;
    if is(i, "HARD") || is(i, "SOFT") {
        i += 1;
    }
    if is(i, "CONNECTION") || is(i, "QUERY") {
        i += 1;
    }
    let id = w.get(i).and_then(|x| x.parse::<u32>().ok());
    match id {
        Some(id) if w.len() == i + 1 || w.get(i + 1) == Some(&";") => Some(Special::Kill(Kill {
            prefix: w[..i].to_vec(),
            id,
        })),
        _ => Some(Special::KillOther),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_forms_are_recognised() {
        assert_eq!(
            special("KILL 42"),
            Some(Special::Kill(Kill {
                prefix: vec!["KILL"],
                id: 42
            }))
        );
        assert_eq!(
            special("kill query 7;"),
            Some(Special::Kill(Kill {
                prefix: vec!["kill", "query"],
                id: 7
            }))
        );
        assert_eq!(
            special("/* x */ KILL HARD CONNECTION 9"),
            Some(Special::Kill(Kill {
                prefix: vec!["KILL", "HARD", "CONNECTION"],
                id: 9
            }))
        );
        assert_eq!(special("KILL USER app"), Some(Special::KillOther));
        assert_eq!(special("KILL QUERY ID 5"), Some(Special::KillOther));
        assert_eq!(special("SELECT 'KILL 1'"), None);
    }

    #[test]
    fn statements_that_start_with_non_ascii_characters_are_ordinary() {
        assert_eq!(special("create database имя_базы"), None);
        assert_eq!(special("DROP TABLE IF EXISTS «t»"), None);
        assert_eq!(special("KILL ☃"), Some(Special::KillOther));
        assert_eq!(special("LOAD DATA «LOCAL»"), None);
        // Whatever a statement starts with, reading it never cuts a character.
        let mixed = "/*ä*/ KILL «x» -- é\n LOAD DATA ☃ /*!50000 ü */ 1 #ß\n";
        for (at, _) in mixed.char_indices() {
            let _ = special(&mixed[at..]);
        }
    }

    #[test]
    fn load_data_local_is_found_behind_comments_and_modifiers() {
        assert_eq!(
            special("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t"),
            Some(Special::LoadDataLocal)
        );
        assert_eq!(
            special("-- hi\n load data low_priority local infile 'x' into table t"),
            Some(Special::LoadDataLocal)
        );
        assert_eq!(
            special("/*!LOAD DATA LOCAL INFILE 'x' INTO TABLE t */"),
            Some(Special::LoadDataLocal)
        );
        assert_eq!(special("LOAD DATA INFILE 'x' INTO TABLE t"), None);
    }

    #[test]
    fn only_an_execute_that_asks_for_a_cursor_expects_one() {
        let execute = |flags: u8| [com::STMT_EXECUTE, 1, 0, 0, 0, flags, 1, 0, 0, 0];
        assert_eq!(
            expected_response(&execute(0)),
            Some(ResponseKind::BinaryResults)
        );
        assert_eq!(
            expected_response(&execute(1)),
            Some(ResponseKind::CursorResults)
        );
        assert_eq!(
            expected_response(&[com::STMT_EXECUTE, 1, 0]),
            Some(ResponseKind::BinaryResults),
            "a truncated execute is not taken for a cursor"
        );
        assert_eq!(
            expected_response(b"\x03SELECT 1"),
            Some(ResponseKind::TextResults)
        );
        assert_eq!(expected_response(&[]), None);
    }

    #[test]
    fn every_relayed_command_has_a_response_shape() {
        assert_eq!(response_kind(com::QUERY), Some(ResponseKind::TextResults));
        assert_eq!(response_kind(com::STMT_CLOSE), Some(ResponseKind::Nothing));
        assert_eq!(response_kind(0x12), None, "binlog dump is never relayed");
        assert_eq!(response_kind(0x08), None, "COM_SHUTDOWN is never relayed");
        assert_eq!(
            response_kind(0x09),
            Some(ResponseKind::Single),
            "COM_STATISTICS"
        );
    }
}

//! Writes held to a `rows_over` rule, in MySQL/MariaDB.
//!
//! The count a rule needs is the affected rows of the write's OK packet, which comes once the
//! write is done — and, with autocommit, committed. So sluice opens a way back first: a
//! `SAVEPOINT` inside the client's transaction, or `START TRANSACTION` outside one. Once that
//! is answered, the client's command runs; its last packet (the OK, or a result's end) waits
//! while sluice closes what it opened: within the limit with `RELEASE SAVEPOINT` or `COMMIT`
//! (nothing under `autocommit = 0`, where the transaction is the client's to end), over it with
//! `ROLLBACK [TO SAVEPOINT]`, and the client gets the rule's error instead. The last packet then
//! goes to the client with the status flags the closing statement left, so the client's idea of
//! its transaction stays right. Only tables of a transactional engine can be rolled back, so
//! the gate refuses held writes to any other before they run.

use bytes::BytesMut;

use super::command::ResponseKind;
use super::packet::{Packet, Reader};
use super::rows::Statement;
use crate::session::RowLimitHold;

const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
const SERVER_STATUS_AUTOCOMMIT: u16 = 0x0002;

/// One held write, from sluice's opening statement to its closing one.
#[derive(Debug)]
pub struct RowHold {
    pub hold: RowLimitHold,
    pub in_transaction: bool,
    pub autocommit: bool,
    pub stage: Stage,
}

#[derive(Debug)]
pub enum Stage {
    /// The last answer was an ERR, which carries no status flags, so whether a transaction is
    /// open is not known (a failed `CREATE TABLE` still commits): sluice's `DO 0` asks first.
    Asking {
        command: BytesMut,
        kind: ResponseKind,
        stmt: Statement,
    },
    /// sluice's opening statement is in flight; the client's command waits here.
    Opening {
        command: BytesMut,
        kind: ResponseKind,
        stmt: Statement,
    },
    /// The client's command runs.
    Running,
    /// sluice's closing statement is in flight; the client's last packet waits here, with
    /// whether its status flags are to be those the closing statement leaves (a write within
    /// its limit), or the refusal it carries (a write over it).
    Closing {
        last: Packet,
        patch_status: bool,
        refusal: Option<String>,
    },
}

/// How the client's command ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// It failed by itself (the database undid it).
    Failed,
    /// It changed this many rows (`None`: no count sluice could read).
    Changed(Option<u64>),
}

impl RowHold {
    /// A hold for a command about to be sent, in a session whose last status flags are
    /// `status`.
    /// `status` is `None` when the last answer carried none (see [`Stage::Asking`]).
    pub fn new(
        hold: RowLimitHold,
        status: Option<u16>,
        command: BytesMut,
        kind: ResponseKind,
        stmt: Statement,
    ) -> RowHold {
        let mut held = RowHold {
            hold,
            in_transaction: false,
            autocommit: false,
            stage: Stage::Asking {
                command,
                kind,
                stmt,
            },
        };
        if let Some(status) = status {
            held.knowing(status);
        }
        held
    }

    /// The session's status flags are known: the opening statement can be chosen.
    pub fn knowing(&mut self, status: u16) {
        self.in_transaction = status & SERVER_STATUS_IN_TRANS != 0;
        self.autocommit = status & SERVER_STATUS_AUTOCOMMIT != 0;
        let stage = std::mem::replace(&mut self.stage, Stage::Running);
        self.stage = match stage {
            Stage::Asking {
                command,
                kind,
                stmt,
            } => Stage::Opening {
                command,
                kind,
                stmt,
            },
            other => other,
        };
    }

    /// The statement sluice sends first: `DO 0` while the status is unknown, then the one
    /// that opens the way back.
    pub fn first(&self) -> &'static str {
        match self.stage {
            Stage::Asking { .. } => "DO 0",
            _ => self.opening(),
        }
    }

    /// The statement that opens the way back.
    fn opening(&self) -> &'static str {
        match self.in_transaction {
            true => "SAVEPOINT sluice_row_limit",
            false => "START TRANSACTION",
        }
    }

    /// The statement that closes what [`RowHold::opening`] opened, for this ending (`None`:
    /// nothing to close), and whether the write went over.
    pub fn closing(&self, ending: &Ending) -> (Option<&'static str>, bool) {
        let over = match ending {
            Ending::Failed => false,
            Ending::Changed(rows) => rows.is_none_or(|n| n > self.hold.limit),
        };
        // `completion_type` must not chain a transaction or end the connection after sluice's.
        let sql = match (self.in_transaction, over, ending) {
            (true, true, _) => Some("ROLLBACK TO SAVEPOINT sluice_row_limit"),
            (true, false, _) => Some("RELEASE SAVEPOINT sluice_row_limit"),
            (false, true, _) => Some("ROLLBACK AND NO CHAIN NO RELEASE"),
            (false, false, Ending::Failed) if self.autocommit => {
                Some("ROLLBACK AND NO CHAIN NO RELEASE")
            }
            (false, false, _) if self.autocommit => Some("COMMIT AND NO CHAIN NO RELEASE"),
            // `autocommit = 0`: the transaction the write began is the client's.
            (false, false, _) => None,
        };
        (sql, over)
    }
}

/// Where the status flags are in an OK or EOF payload.
fn status_at(payload: &[u8]) -> Option<usize> {
    match payload.first()? {
        0x00 => {}
        // A classic EOF: warnings, then status.
        0xFE if payload.len() < 7 => return (payload.len() >= 5).then_some(3),
        // An OK packet with the EOF header (`CLIENT_DEPRECATE_EOF`).
        0xFE => {}
        _ => return None,
    }
    let mut r = Reader(&payload[1..]);
    r.lenenc()?;
    r.lenenc()?;
    let at = payload.len() - r.rest().len();
    (r.rest().len() >= 2).then_some(at)
}

/// The status flags of an OK or EOF payload.
pub fn status_of(payload: &[u8]) -> Option<u16> {
    let at = status_at(payload)?;
    Some(u16::from_le_bytes([
        *payload.get(at)?,
        *payload.get(at + 1)?,
    ]))
}

/// Sets the status flags of an OK or EOF packet (one physical packet) in place.
pub fn set_status(packet: &mut Packet, status: u16) {
    if let Some(at) = status_at(packet.payload()) {
        let bytes = status.to_le_bytes();
        packet.bytes[4 + at] = bytes[0];
        packet.bytes[4 + at + 1] = bytes[1];
    }
}

/// The warning count of an OK payload.
pub fn warnings_of(payload: &[u8]) -> u16 {
    status_at(payload)
        .filter(|_| payload.first() == Some(&0x00))
        .and_then(|at| {
            Some(u16::from_le_bytes([
                *payload.get(at + 2)?,
                *payload.get(at + 3)?,
            ]))
        })
        .unwrap_or(0)
}

/// Rows an OK payload says the command changed.
pub fn affected_rows(payload: &[u8]) -> Option<u64> {
    match payload.first()? {
        0x00 => Reader(&payload[1..]).lenenc(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::write_packets;
    use super::*;

    fn hold_of(status: u16) -> RowHold {
        hold(Some(status))
    }

    fn hold(status: Option<u16>) -> RowHold {
        RowHold::new(
            RowLimitHold {
                limit: 2,
                rule: "big".into(),
                message: None,
            },
            status,
            BytesMut::new(),
            ResponseKind::TextResults,
            Statement::None,
        )
    }

    #[test]
    fn the_way_back_fits_the_transaction() {
        let in_tx = hold_of(SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT);
        assert_eq!(in_tx.first(), "SAVEPOINT sluice_row_limit");
        assert_eq!(
            in_tx.closing(&Ending::Changed(Some(3))),
            (Some("ROLLBACK TO SAVEPOINT sluice_row_limit"), true)
        );
        assert_eq!(
            in_tx.closing(&Ending::Changed(Some(2))),
            (Some("RELEASE SAVEPOINT sluice_row_limit"), false)
        );
        let auto = hold_of(SERVER_STATUS_AUTOCOMMIT);
        assert_eq!(auto.first(), "START TRANSACTION");
        let commit = Some("COMMIT AND NO CHAIN NO RELEASE");
        let rollback = Some("ROLLBACK AND NO CHAIN NO RELEASE");
        assert_eq!(auto.closing(&Ending::Changed(Some(1))), (commit, false));
        assert_eq!(auto.closing(&Ending::Changed(None)), (rollback, true));
        assert_eq!(auto.closing(&Ending::Failed), (rollback, false));
        let manual = hold_of(0);
        assert_eq!(manual.closing(&Ending::Changed(Some(1))), (None, false));
        assert_eq!(manual.closing(&Ending::Changed(Some(9))), (rollback, true));
        // After an ERR the status is asked for first.
        let mut unknown = hold(None);
        assert_eq!(unknown.first(), "DO 0");
        unknown.knowing(SERVER_STATUS_AUTOCOMMIT);
        assert_eq!(unknown.first(), "START TRANSACTION");
    }

    #[test]
    fn status_flags_are_read_and_set_in_ok_and_eof_packets() {
        // OK: header, affected rows 3, last insert id 0, status, warnings.
        let ok = [0x00, 3, 0, 0x03, 0x00, 0, 0];
        assert_eq!(affected_rows(&ok), Some(3));
        assert_eq!(status_of(&ok), Some(3));
        let mut raw = BytesMut::new();
        write_packets(&mut raw, 1, &ok);
        let mut p = Packet { seq: 1, bytes: raw };
        set_status(&mut p, 0x0002);
        assert_eq!(status_of(p.payload()), Some(2));
        assert_eq!(affected_rows(p.payload()), Some(3));
        let eof = [0xFE, 0, 0, 0x22, 0x00];
        assert_eq!(status_of(&eof), Some(0x22));
        assert_eq!(affected_rows(&[0xFF, 1, 2]), None);
    }
}
